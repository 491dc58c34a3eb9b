package keys

import (
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// WrapWithPassphrase encrypts the [AlgX25519] private key priv for userID
// under a key derived from passphrase with argon2id and parameters p, using a
// fresh random salt and nonce. The passphrase bytes are used exactly as given.
// Policy checks ([CheckPassphrase]) are the caller's business; here only an
// empty passphrase is refused.
func WrapWithPassphrase(userID string, priv, passphrase []byte, p Params) (WrappedKey, error) {
	if err := checkWrapInputs(userID, priv); err != nil {
		return WrappedKey{}, err
	}
	if len(passphrase) == 0 {
		return WrappedKey{}, ErrEmptyPassphrase
	}
	if err := p.Validate(); err != nil {
		return WrappedKey{}, err
	}
	salt, err := randomBytes(SaltSize)
	if err != nil {
		return WrappedKey{}, err
	}
	w := WrappedKey{
		Version: FormatVersion,
		KeyAlg:  AlgX25519,
		Wrap:    WrapPassphrase,
		KDF:     &p,
		Salt:    salt,
	}
	key := passphraseKey(passphrase, salt, p)
	defer clear(key)
	if err := seal(key, &w, userID, priv); err != nil {
		return WrappedKey{}, err
	}
	return w, nil
}

// UnwrapWithPassphrase decrypts a [WrapPassphrase] blob made for userID and
// returns the private key, which the caller should clear after use.
//
// The blob's shape and KDF parameters are checked first ([ErrInvalidBlob]),
// so a hostile blob cannot trigger an expensive derivation. Every failure
// after that (wrong passphrase, wrong user id, any altered byte) is
// [ErrWrongKey]. It does not check the key against a public key; use
// [Bundle.UnlockWithPassphrase] for that.
func UnwrapWithPassphrase(w WrappedKey, userID string, passphrase []byte) ([]byte, error) {
	if err := w.checkKind(WrapPassphrase); err != nil {
		return nil, err
	}
	if userID == "" {
		return nil, ErrEmptyUserID
	}
	if len(passphrase) == 0 {
		// Wrapping refuses empty passphrases, so this can never be right;
		// answering now saves a pointless derivation.
		return nil, ErrWrongKey
	}
	key := passphraseKey(passphrase, w.Salt, *w.KDF)
	defer clear(key)
	return open(key, &w, userID)
}

// passphraseKey stretches passphrase into an AEAD key. p must be valid:
// argon2 panics on zero time or threads.
func passphraseKey(passphrase, salt []byte, p Params) []byte {
	return argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, chacha20poly1305.KeySize)
}

// checkWrapInputs holds the checks shared by both wrap functions.
func checkWrapInputs(userID string, priv []byte) error {
	if userID == "" {
		return ErrEmptyUserID
	}
	return checkPrivateKey(AlgX25519, priv)
}
