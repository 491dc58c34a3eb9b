package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// recoveryInfo is the HKDF info string: it ties the derived key to this one
// purpose, so the recovery key's bytes never serve as a key for anything else.
const recoveryInfo = "scimdesk/keys v1 recovery-key wrapping key"

// recoveryWrappingKey derives the AEAD key from a recovery key.
//
// Why HKDF-SHA256 rather than argon2id: key stretching only helps secrets an
// attacker can enumerate, such as passphrases. A recovery key is 160 uniformly
// random bits; 2^160 guesses are out of reach however cheap each one is, so a
// slow KDF would only make recovery slower for the user. HKDF still provides
// domain separation and expands the 20 bytes to the 32 the AEAD needs.
func recoveryWrappingKey(rk RecoveryKey) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, rk.b[:], nil, recoveryInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("keys: deriving recovery wrapping key: %w", err)
	}
	return key, nil
}

// WrapWithRecoveryKey encrypts the [AlgX25519] private key priv for userID
// under the recovery key rk. The zero RecoveryKey is refused, because it is
// what an uninitialised variable holds and would be a publicly known key.
func WrapWithRecoveryKey(userID string, priv []byte, rk RecoveryKey) (WrappedKey, error) {
	if err := checkWrapInputs(userID, priv); err != nil {
		return WrappedKey{}, err
	}
	if rk.isZero() {
		return WrappedKey{}, errors.New("keys: recovery key is the zero value; use NewRecoveryKey")
	}
	key, err := recoveryWrappingKey(rk)
	if err != nil {
		return WrappedKey{}, err
	}
	defer clear(key)
	w := WrappedKey{Version: FormatVersion, KeyAlg: AlgX25519, Wrap: WrapRecovery}
	if err := seal(key, &w, userID, priv); err != nil {
		return WrappedKey{}, err
	}
	return w, nil
}

// UnwrapWithRecoveryKey decrypts a [WrapRecovery] blob made for userID and
// returns the private key, which the caller should clear after use. Errors
// are as for [UnwrapWithPassphrase]. It does not check the key against a
// public key; use [Bundle.UnlockWithRecoveryKey] for that.
func UnwrapWithRecoveryKey(w WrappedKey, userID string, rk RecoveryKey) ([]byte, error) {
	if err := w.checkKind(WrapRecovery); err != nil {
		return nil, err
	}
	if userID == "" {
		return nil, ErrEmptyUserID
	}
	key, err := recoveryWrappingKey(rk)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return open(key, &w, userID)
}

// RewrapWithRecoveryKey is the "forgot my passphrase" step: it opens the
// recovery blob with rk and wraps the private key again under newPassphrase
// with parameters p and a new salt. The new blob is opened once more to
// verify the round trip before it is returned; the recovery blob stays valid.
// [Bundle.ResetPassphrase] does the same and also checks the public key.
func RewrapWithRecoveryKey(recovery WrappedKey, userID string, rk RecoveryKey, newPassphrase []byte, p Params) (WrappedKey, error) {
	// Check the cheap things first so a bad call costs no derivation.
	if len(newPassphrase) == 0 {
		return WrappedKey{}, ErrEmptyPassphrase
	}
	if err := p.Validate(); err != nil {
		return WrappedKey{}, err
	}
	priv, err := UnwrapWithRecoveryKey(recovery, userID, rk)
	if err != nil {
		return WrappedKey{}, err
	}
	defer clear(priv)
	return wrapAndVerify(userID, priv, newPassphrase, p)
}

// wrapAndVerify wraps priv under passphrase and proves the result opens to
// the same key, catching a broken build or faulty memory before the only
// copy the user can open is uploaded.
func wrapAndVerify(userID string, priv, passphrase []byte, p Params) (WrappedKey, error) {
	w, err := WrapWithPassphrase(userID, priv, passphrase, p)
	if err != nil {
		return WrappedKey{}, err
	}
	got, err := UnwrapWithPassphrase(w, userID, passphrase)
	if err != nil {
		return WrappedKey{}, fmt.Errorf("keys: new passphrase blob failed its round trip: %w", err)
	}
	defer clear(got)
	if subtle.ConstantTimeCompare(got, priv) != 1 {
		return WrappedKey{}, fmt.Errorf("keys: new passphrase blob failed its round trip: %w", ErrKeyMismatch)
	}
	return w, nil
}
