package keys

import (
	"bytes"
	"crypto/subtle"
	"fmt"
)

// Bundle is everything the server stores for one user's master key: the
// public key and the private key wrapped twice. It holds no unwrapped key
// material and encodes as JSON.
type Bundle struct {
	// KeyAlg is the key algorithm, [AlgX25519].
	KeyAlg string `json:"alg"`
	// PublicKey is the user's public key.
	PublicKey []byte `json:"pub"`
	// Passphrase is the private key wrapped under the passphrase.
	Passphrase WrappedKey `json:"passphrase"`
	// Recovery is the private key wrapped under the recovery key.
	Recovery WrappedKey `json:"recovery"`
}

// NewBundle generates a key pair and a recovery key for userID, wraps the
// private key under passphrase (with argon2id parameters p) and under the
// recovery key, and verifies that both blobs open to the same private key and
// that it matches the public key. The private key is cleared before return.
//
// The recovery key is returned only here: show it to the user once
// ([RecoveryKey.Text]) and do not store it. The passphrase is not checked
// against the policy; call [CheckPassphrase] first.
func NewBundle(userID string, passphrase []byte, p Params) (Bundle, RecoveryKey, error) {
	// Refuse bad input before generating anything.
	if userID == "" {
		return Bundle{}, RecoveryKey{}, ErrEmptyUserID
	}
	if len(passphrase) == 0 {
		return Bundle{}, RecoveryKey{}, ErrEmptyPassphrase
	}
	if err := p.Validate(); err != nil {
		return Bundle{}, RecoveryKey{}, err
	}

	pub, priv, err := GenerateKeyPair()
	if err != nil {
		return Bundle{}, RecoveryKey{}, err
	}
	defer clear(priv)
	rk, err := NewRecoveryKey()
	if err != nil {
		return Bundle{}, RecoveryKey{}, err
	}
	pw, err := WrapWithPassphrase(userID, priv, passphrase, p)
	if err != nil {
		return Bundle{}, RecoveryKey{}, err
	}
	rw, err := WrapWithRecoveryKey(userID, priv, rk)
	if err != nil {
		return Bundle{}, RecoveryKey{}, err
	}
	b := Bundle{KeyAlg: AlgX25519, PublicKey: pub, Passphrase: pw, Recovery: rw}
	if err := VerifyBundle(b, userID, passphrase, rk); err != nil {
		rk.Wipe()
		return Bundle{}, RecoveryKey{}, fmt.Errorf("keys: new bundle failed its round trip: %w", err)
	}
	return b, rk, nil
}

// Validate checks the shape of b without any secret: a supported algorithm,
// a valid public key ([ValidatePublicKey]), a well-formed passphrase blob and
// recovery blob ([WrappedKey.Validate]) of the right kinds and of the same
// algorithm. Servers call it on upload. Errors wrap [ErrInvalidBlob] or
// [ErrInvalidPublicKey].
func (b Bundle) Validate() error {
	if err := ValidatePublicKey(b.KeyAlg, b.PublicKey); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		w    WrappedKey
		kind string
	}{{"passphrase", b.Passphrase, WrapPassphrase}, {"recovery", b.Recovery, WrapRecovery}} {
		if err := c.w.checkKind(c.kind); err != nil {
			return fmt.Errorf("%s blob: %w", c.name, err)
		}
		if c.w.KeyAlg != b.KeyAlg {
			return fmt.Errorf("%w: %s blob holds a %q key but the bundle is %q", ErrInvalidBlob, c.name, c.w.KeyAlg, b.KeyAlg)
		}
	}
	return nil
}

// UnlockWithPassphrase opens the passphrase blob and checks that the private
// key belongs to the bundle's public key, returning [ErrKeyMismatch] if not.
// The caller should clear the returned key after use.
func (b Bundle) UnlockWithPassphrase(userID string, passphrase []byte) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	priv, err := UnwrapWithPassphrase(b.Passphrase, userID, passphrase)
	if err != nil {
		return nil, err
	}
	return b.checked(priv)
}

// UnlockWithRecoveryKey opens the recovery blob and checks that the private
// key belongs to the bundle's public key, returning [ErrKeyMismatch] if not.
// The caller should clear the returned key after use.
func (b Bundle) UnlockWithRecoveryKey(userID string, rk RecoveryKey) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	priv, err := UnwrapWithRecoveryKey(b.Recovery, userID, rk)
	if err != nil {
		return nil, err
	}
	return b.checked(priv)
}

// checked returns priv if it derives b's public key, and clears it otherwise.
func (b Bundle) checked(priv []byte) ([]byte, error) {
	pub, err := PublicKey(b.KeyAlg, priv)
	if err != nil {
		clear(priv)
		return nil, err
	}
	if !bytes.Equal(pub, b.PublicKey) {
		clear(priv)
		return nil, ErrKeyMismatch
	}
	return priv, nil
}

// ResetPassphrase is the client side of "forgot my passphrase": it opens the
// recovery blob with rk, checks the private key against the public key,
// wraps it under newPassphrase with parameters p and a new salt, verifies the
// new blob, and returns a copy of b with the new passphrase blob. The
// recovery blob and recovery key stay valid.
func (b Bundle) ResetPassphrase(userID string, rk RecoveryKey, newPassphrase []byte, p Params) (Bundle, error) {
	if len(newPassphrase) == 0 {
		return Bundle{}, ErrEmptyPassphrase
	}
	if err := p.Validate(); err != nil {
		return Bundle{}, err
	}
	priv, err := b.UnlockWithRecoveryKey(userID, rk)
	if err != nil {
		return Bundle{}, err
	}
	defer clear(priv)
	w, err := wrapAndVerify(userID, priv, newPassphrase, p)
	if err != nil {
		return Bundle{}, err
	}
	b.Passphrase = w
	return b, nil
}

// VerifyBundle is the client's "verify the round trip" check: it validates b,
// opens both blobs (with passphrase and with rk), and checks that both yield
// the same private key and that it matches the public key. Use it right after
// [NewBundle] or before trusting a bundle downloaded from the server. It
// costs one argon2id derivation.
func VerifyBundle(b Bundle, userID string, passphrase []byte, rk RecoveryKey) error {
	fromRecovery, err := b.UnlockWithRecoveryKey(userID, rk)
	if err != nil {
		return fmt.Errorf("recovery blob: %w", err)
	}
	defer clear(fromRecovery)
	fromPassphrase, err := b.UnlockWithPassphrase(userID, passphrase)
	if err != nil {
		return fmt.Errorf("passphrase blob: %w", err)
	}
	defer clear(fromPassphrase)
	// Both keys derive the same public key, but X25519 clamping maps several
	// byte strings to one key, so compare the bytes too.
	if subtle.ConstantTimeCompare(fromRecovery, fromPassphrase) != 1 {
		return ErrKeyMismatch
	}
	return nil
}
