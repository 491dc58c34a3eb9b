package keys

import (
	"bytes"
	"testing"
)

func TestRecoveryRoundTrip(t *testing.T) {
	_, priv := mustKeyPair(t)
	rk := mustRecoveryKey(t)
	w := mustRecoveryBlob(t, priv, rk)
	if w.Wrap != WrapRecovery || w.KDF != nil || w.Salt != nil {
		t.Fatalf("recovery blob header %+v", w)
	}
	// The key as the user would type it back.
	typed, err := ParseRecoveryKey(rk.Text())
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnwrapWithRecoveryKey(w, testUser, typed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, priv) {
		t.Fatal("unwrapped key differs")
	}

	_, err = UnwrapWithRecoveryKey(w, testUser, mustRecoveryKey(t))
	wantErr(t, err, ErrWrongKey)
	_, err = UnwrapWithRecoveryKey(w, otherUser, rk)
	wantErr(t, err, ErrWrongKey)
	_, err = UnwrapWithRecoveryKey(w, testUser, RecoveryKey{})
	wantErr(t, err, ErrWrongKey)
	_, err = UnwrapWithRecoveryKey(w, "", rk)
	wantErr(t, err, ErrEmptyUserID)
}

func TestWrapWithRecoveryKeyRejects(t *testing.T) {
	_, priv := mustKeyPair(t)
	if _, err := WrapWithRecoveryKey(testUser, priv, RecoveryKey{}); err == nil {
		t.Error("wrapped under the zero recovery key")
	}
	_, err := WrapWithRecoveryKey("", priv, mustRecoveryKey(t))
	wantErr(t, err, ErrEmptyUserID)
	if _, err := WrapWithRecoveryKey(testUser, nil, mustRecoveryKey(t)); err == nil {
		t.Error("wrapped an empty private key")
	}
}

func TestRewrapWithRecoveryKey(t *testing.T) {
	_, priv := mustKeyPair(t)
	rk := mustRecoveryKey(t)
	old := mustPassphraseBlob(t, priv)
	rw := mustRecoveryBlob(t, priv, rk)
	newPass := []byte("a brand new passphrase, please")
	p := Params{Time: 2, MemoryKiB: 96, Threads: 1}

	nw, err := RewrapWithRecoveryKey(rw, testUser, rk, newPass, p)
	if err != nil {
		t.Fatal(err)
	}
	if *nw.KDF != p {
		t.Fatalf("new blob params %+v, want %+v", *nw.KDF, p)
	}
	if bytes.Equal(nw.Salt, old.Salt) {
		t.Fatal("rewrap reused the salt")
	}
	got, err := UnwrapWithPassphrase(nw, testUser, newPass)
	if err != nil || !bytes.Equal(got, priv) {
		t.Fatalf("new passphrase does not open the new blob: %v", err)
	}
	_, err = UnwrapWithPassphrase(nw, testUser, testPass)
	wantErr(t, err, ErrWrongKey)
	// The recovery blob is untouched and still works.
	if _, err := UnwrapWithRecoveryKey(rw, testUser, rk); err != nil {
		t.Fatal(err)
	}

	_, err = RewrapWithRecoveryKey(rw, testUser, mustRecoveryKey(t), newPass, p)
	wantErr(t, err, ErrWrongKey)
	_, err = RewrapWithRecoveryKey(rw, otherUser, rk, newPass, p)
	wantErr(t, err, ErrWrongKey)
	_, err = RewrapWithRecoveryKey(old, testUser, rk, newPass, p)
	wantErr(t, err, ErrInvalidBlob)
	_, err = RewrapWithRecoveryKey(rw, testUser, rk, nil, p)
	wantErr(t, err, ErrEmptyPassphrase)
	_, err = RewrapWithRecoveryKey(rw, testUser, rk, newPass, Params{})
	wantErr(t, err, ErrInvalidParams)
}
