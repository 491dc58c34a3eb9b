package keys

import (
	"errors"
	"testing"
)

// cheapParams keep argon2id to well under a millisecond so that tests can
// afford hundreds of derivations. Only TestNewBundleDefaultParams and the
// benchmark use DefaultParams.
var cheapParams = Params{Time: 1, MemoryKiB: 64, Threads: 1}

const (
	testUser  = "0b6f3c52-6d0e-4a59-9a3c-1f1f3e2d7c11"
	otherUser = "5d0f9b7e-2222-4c1a-8e8e-7a7a7a7a7a7a"
)

var (
	testPass  = []byte("cobalt lemur visor tundra")
	otherPass = []byte("cobalt lemur visor tundrA")
)

// clone deep-copies w so tests can tamper with the copy only (KDF is a
// pointer and the byte fields are slices).
func clone(w WrappedKey) WrappedKey {
	c := w
	if w.KDF != nil {
		p := *w.KDF
		c.KDF = &p
	}
	c.Salt = append([]byte(nil), w.Salt...)
	c.Nonce = append([]byte(nil), w.Nonce...)
	c.Ciphertext = append([]byte(nil), w.Ciphertext...)
	return c
}

func mustKeyPair(t testing.TB) (pub, priv []byte) {
	t.Helper()
	pub, priv, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func mustRecoveryKey(t testing.TB) RecoveryKey {
	t.Helper()
	rk, err := NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	return rk
}

func mustPassphraseBlob(t testing.TB, priv []byte) WrappedKey {
	t.Helper()
	w, err := WrapWithPassphrase(testUser, priv, testPass, cheapParams)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustRecoveryBlob(t testing.TB, priv []byte, rk RecoveryKey) WrappedKey {
	t.Helper()
	w, err := WrapWithRecoveryKey(testUser, priv, rk)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
