package keys

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// FormatVersion is the version of the [WrappedKey] format written by this
// package. It is authenticated with the ciphertext, so it cannot be changed
// to trick a future reader into another code path.
const FormatVersion = 1

// Wrap kinds, recorded in [WrappedKey.Wrap]. They double as purpose labels in
// the associated data, which is what stops a passphrase blob from being
// accepted as a recovery blob and vice versa.
const (
	// WrapPassphrase marks a private key sealed with XChaCha20-Poly1305
	// under argon2id(passphrase, salt, params).
	WrapPassphrase = "argon2id+xchacha20poly1305"
	// WrapRecovery marks a private key sealed with XChaCha20-Poly1305
	// under HKDF-SHA256(recovery key).
	WrapRecovery = "recovery+hkdf-sha256+xchacha20poly1305"
)

const (
	// SaltSize is the length of the random argon2id salt in new blobs, and
	// the minimum accepted when reading one.
	SaltSize = 16
	// maxSaltSize bounds the salt read from an untrusted blob.
	maxSaltSize = 64
	// NonceSize is the XChaCha20-Poly1305 nonce length. At 192 bits, random
	// nonces never collide in practice, so no nonce bookkeeping is needed.
	NonceSize = chacha20poly1305.NonceSizeX
	// CiphertextSize is the exact length of a sealed private key: the
	// 32-byte key plus the 16-byte Poly1305 tag.
	CiphertextSize = PrivateKeySize + chacha20poly1305.Overhead
)

// WrappedKey is an encrypted private key plus everything needed to decrypt it
// given the right secret. It is safe to store and transmit: it holds no
// plaintext key material. Byte fields encode as base64 in JSON.
type WrappedKey struct {
	// Version is the format version; see [FormatVersion].
	Version int `json:"v"`
	// KeyAlg is the algorithm of the wrapped key, e.g. [AlgX25519].
	KeyAlg string `json:"alg"`
	// Wrap is [WrapPassphrase] or [WrapRecovery].
	Wrap string `json:"wrap"`
	// KDF holds the argon2id parameters; only for [WrapPassphrase].
	KDF *Params `json:"kdf,omitempty"`
	// Salt is the argon2id salt; only for [WrapPassphrase].
	Salt []byte `json:"salt,omitempty"`
	// Nonce is the random XChaCha20-Poly1305 nonce.
	Nonce []byte `json:"nonce"`
	// Ciphertext is the sealed private key including the tag.
	Ciphertext []byte `json:"ct"`
}

// Validate checks the shape of w without any secret: known version,
// algorithm and wrap kind, KDF parameters within limits, and exact salt,
// nonce and ciphertext lengths. Servers call it on upload; the unwrap
// functions call it before doing any expensive work. Errors wrap
// [ErrInvalidBlob].
func (w WrappedKey) Validate() error {
	if d := w.problem(); d != "" {
		return fmt.Errorf("%w: %s", ErrInvalidBlob, d)
	}
	return nil
}

func (w WrappedKey) problem() string {
	if w.Version != FormatVersion {
		return fmt.Sprintf("unsupported version %d (want %d)", w.Version, FormatVersion)
	}
	if w.KeyAlg != AlgX25519 {
		return fmt.Sprintf("unsupported key algorithm %.40q", w.KeyAlg)
	}
	switch w.Wrap {
	case WrapPassphrase:
		if w.KDF == nil {
			return "passphrase wrap has no kdf parameters"
		}
		if d := w.KDF.problem(); d != "" {
			return "kdf " + d
		}
		if len(w.Salt) < SaltSize || len(w.Salt) > maxSaltSize {
			return fmt.Sprintf("salt is %d bytes, want %d..%d", len(w.Salt), SaltSize, maxSaltSize)
		}
	case WrapRecovery:
		// The recovery key is uniformly random, so it needs neither
		// stretching nor a salt; refusing them keeps one encoding per blob.
		if w.KDF != nil {
			return "recovery wrap must not have kdf parameters"
		}
		if len(w.Salt) != 0 {
			return "recovery wrap must not have a salt"
		}
	default:
		return fmt.Sprintf("unknown wrap %.60q", w.Wrap)
	}
	if len(w.Nonce) != NonceSize {
		return fmt.Sprintf("nonce is %d bytes, want %d", len(w.Nonce), NonceSize)
	}
	if len(w.Ciphertext) != CiphertextSize {
		return fmt.Sprintf("ciphertext is %d bytes, want %d", len(w.Ciphertext), CiphertextSize)
	}
	return ""
}

// checkKind validates w and makes sure it is the kind of wrap the caller is
// about to open, so a swapped blob fails fast with a clear message rather
// than after a key derivation.
func (w WrappedKey) checkKind(want string) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if w.Wrap != want {
		return fmt.Errorf("%w: expected a %q wrap, got %q", ErrInvalidBlob, want, w.Wrap)
	}
	return nil
}

// adContext separates this package's associated data from any other use of
// the same keys.
const adContext = "scimdesk/keys wrapped private key"

// associatedData binds the ciphertext to the user and to every header field
// of w except the nonce (which the AEAD covers by itself). Fields are length
// prefixed so that no two different headers encode to the same bytes.
//
// argon2id already mixes its parameters and salt into the derived key, so
// binding them here too is defence in depth; binding the version, algorithm
// and wrap kind is what actually prevents relabelling a blob.
func associatedData(w *WrappedKey, userID string) []byte {
	b := make([]byte, 0, 128+len(userID))
	b = appendField(b, []byte(adContext))
	b = binary.BigEndian.AppendUint32(b, uint32(w.Version))
	b = appendField(b, []byte(w.KeyAlg))
	b = appendField(b, []byte(w.Wrap))
	if w.KDF != nil {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint32(b, w.KDF.Time)
		b = binary.BigEndian.AppendUint32(b, w.KDF.MemoryKiB)
		b = append(b, w.KDF.Threads)
	} else {
		b = append(b, 0)
	}
	b = appendField(b, w.Salt)
	b = appendField(b, []byte(userID))
	return b
}

func appendField(b, field []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(field)))
	return append(b, field...)
}

// seal encrypts priv under key into w, whose header fields must already be
// set, drawing a fresh random nonce.
func seal(key []byte, w *WrappedKey, userID string, priv []byte) error {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	nonce, err := randomBytes(NonceSize)
	if err != nil {
		return err
	}
	w.Nonce = nonce
	w.Ciphertext = aead.Seal(nil, nonce, priv, associatedData(w, userID))
	return nil
}

// open decrypts w under key. Any authentication failure becomes
// [ErrWrongKey]; w must have passed Validate, which guarantees the nonce
// length the AEAD would otherwise panic on.
func open(key []byte, w *WrappedKey, userID string) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	priv, err := aead.Open(nil, w.Nonce, w.Ciphertext, associatedData(w, userID))
	if err != nil {
		return nil, ErrWrongKey
	}
	return priv, nil
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("keys: reading random bytes: %w", err)
	}
	return b, nil
}
