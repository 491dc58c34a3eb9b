package keys

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func mustBundle(t testing.TB) (Bundle, RecoveryKey) {
	t.Helper()
	b, rk, err := NewBundle(testUser, testPass, cheapParams)
	if err != nil {
		t.Fatal(err)
	}
	return b, rk
}

func TestNewBundle(t *testing.T) {
	b, rk := mustBundle(t)
	if b.KeyAlg != AlgX25519 || b.Passphrase.Wrap != WrapPassphrase || b.Recovery.Wrap != WrapRecovery {
		t.Fatalf("bundle header %q %q %q", b.KeyAlg, b.Passphrase.Wrap, b.Recovery.Wrap)
	}
	if rk.isZero() {
		t.Fatal("zero recovery key")
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := VerifyBundle(b, testUser, testPass, rk); err != nil {
		t.Fatal(err)
	}
	p1, err := b.UnlockWithPassphrase(testUser, testPass)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := b.UnlockWithRecoveryKey(testUser, rk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p1, p2) {
		t.Fatal("the two blobs hold different keys")
	}
	if pub, _ := PublicKey(AlgX25519, p1); !bytes.Equal(pub, b.PublicKey) {
		t.Fatal("private key does not derive the public key")
	}
	if b2, _ := mustBundle(t); bytes.Equal(b2.PublicKey, b.PublicKey) {
		t.Fatal("two bundles share a key")
	}
}

// TestNewBundleDefaultParams is the one test that pays for the production
// parameters (two derivations: the wrap and its verification).
func TestNewBundleDefaultParams(t *testing.T) {
	if testing.Short() {
		// CI runs without -short: there, skipping the production parameters is a failure.
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this test, but -short skips it (slow: default argon2id parameters)")
		}
		t.Skip("-short: slow with the default argon2id parameters")
	}
	b, _, err := NewBundle(testUser, testPass, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if *b.Passphrase.KDF != DefaultParams() {
		t.Fatalf("recorded %+v", *b.Passphrase.KDF)
	}
}

func TestNewBundleRejects(t *testing.T) {
	_, _, err := NewBundle("", testPass, cheapParams)
	wantErr(t, err, ErrEmptyUserID)
	_, _, err = NewBundle(testUser, nil, cheapParams)
	wantErr(t, err, ErrEmptyPassphrase)
	_, _, err = NewBundle(testUser, testPass, Params{Time: 1, MemoryKiB: 1 << 30, Threads: 1})
	wantErr(t, err, ErrInvalidParams)
}

func TestBundleJSON(t *testing.T) {
	b, rk := mustBundle(t)
	js, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"alg":"x25519"`, `"pub":"`, `"passphrase":{`, `"recovery":{`} {
		if !strings.Contains(string(js), field) {
			t.Errorf("JSON %s lacks %s", js, field)
		}
	}
	if strings.Contains(string(js), `"recovery":{"v":1,"alg":"x25519","wrap":"recovery+hkdf-sha256+xchacha20poly1305","kdf"`) {
		t.Error("recovery blob carries kdf in JSON")
	}
	var back Bundle
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := VerifyBundle(back, testUser, testPass, rk); err != nil {
		t.Fatal(err)
	}
}

func TestBundleFailures(t *testing.T) {
	b, rk := mustBundle(t)
	other, otherRK := mustBundle(t)

	wantErr(t, VerifyBundle(b, testUser, otherPass, rk), ErrWrongKey)
	wantErr(t, VerifyBundle(b, testUser, testPass, otherRK), ErrWrongKey)
	wantErr(t, VerifyBundle(b, otherUser, testPass, rk), ErrWrongKey)
	_, err := b.UnlockWithPassphrase(otherUser, testPass)
	wantErr(t, err, ErrWrongKey)

	// A substituted public key: the blobs still open but the key does not
	// match, which is what the check after unwrapping is for.
	swappedPub := b
	swappedPub.PublicKey = other.PublicKey
	if err := swappedPub.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err = swappedPub.UnlockWithPassphrase(testUser, testPass)
	wantErr(t, err, ErrKeyMismatch)
	_, err = swappedPub.UnlockWithRecoveryKey(testUser, rk)
	wantErr(t, err, ErrKeyMismatch)
	wantErr(t, VerifyBundle(swappedPub, testUser, testPass, rk), ErrKeyMismatch)

	// One blob from another bundle: each opens with its own secret and
	// matches no common public key.
	mixed := b
	mixed.Recovery = other.Recovery
	wantErr(t, VerifyBundle(mixed, testUser, testPass, otherRK), ErrKeyMismatch)
	wantErr(t, VerifyBundle(mixed, testUser, testPass, rk), ErrWrongKey)

	// Blobs in each other's slots are refused on shape alone.
	swapped := b
	swapped.Passphrase, swapped.Recovery = b.Recovery, b.Passphrase
	wantErr(t, swapped.Validate(), ErrInvalidBlob)
	_, err = swapped.UnlockWithPassphrase(testUser, testPass)
	wantErr(t, err, ErrInvalidBlob)

	badPub := b
	badPub.PublicKey = make([]byte, 32)
	wantErr(t, badPub.Validate(), ErrInvalidPublicKey)
	badAlg := b
	badAlg.KeyAlg = "x448"
	wantErr(t, badAlg.Validate(), ErrInvalidPublicKey)
	badBlob := b
	badBlob.Recovery = clone(b.Recovery)
	badBlob.Recovery.Nonce = nil
	wantErr(t, badBlob.Validate(), ErrInvalidBlob)
	wantErr(t, (Bundle{}).Validate(), ErrInvalidPublicKey)
}

func TestResetPassphrase(t *testing.T) {
	b, rk := mustBundle(t)
	newPass := []byte("another long passphrase 42")
	typed, err := ParseRecoveryKey(strings.ToLower(rk.Text()))
	if err != nil {
		t.Fatal(err)
	}
	nb, err := b.ResetPassphrase(testUser, typed, newPass, cheapParams)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(nb.PublicKey, b.PublicKey) || !bytes.Equal(nb.Recovery.Ciphertext, b.Recovery.Ciphertext) {
		t.Fatal("reset changed the public key or the recovery blob")
	}
	if bytes.Equal(nb.Passphrase.Salt, b.Passphrase.Salt) {
		t.Fatal("reset reused the salt")
	}
	if err := VerifyBundle(nb, testUser, newPass, rk); err != nil {
		t.Fatal(err)
	}
	_, err = nb.UnlockWithPassphrase(testUser, testPass)
	wantErr(t, err, ErrWrongKey)
	// The original bundle value is not modified.
	if err := VerifyBundle(b, testUser, testPass, rk); err != nil {
		t.Fatal(err)
	}

	_, err = b.ResetPassphrase(testUser, mustRecoveryKey(t), newPass, cheapParams)
	wantErr(t, err, ErrWrongKey)
	_, err = b.ResetPassphrase(testUser, rk, nil, cheapParams)
	wantErr(t, err, ErrEmptyPassphrase)
	_, err = b.ResetPassphrase(testUser, rk, newPass, Params{})
	wantErr(t, err, ErrInvalidParams)
	other, _ := mustBundle(t)
	swappedPub := b
	swappedPub.PublicKey = other.PublicKey
	_, err = swappedPub.ResetPassphrase(testUser, rk, newPass, cheapParams)
	wantErr(t, err, ErrKeyMismatch)
}
