package keys

import "errors"

// Sentinel errors. Functions wrap them with detail, so test with errors.Is.
var (
	// ErrWrongKey means a wrapped key did not open: the passphrase or
	// recovery key is wrong, the user id is wrong, or the blob was altered.
	// These cases are deliberately not told apart: authenticated encryption
	// cannot distinguish them, and guessing would mislead the user.
	ErrWrongKey = errors.New("keys: wrong passphrase or recovery key (or the key data is damaged)")

	// ErrInvalidBlob means a wrapped key or bundle is malformed or uses
	// something this version does not support. It is detected without any
	// secret, so a server can use it to reject uploads.
	ErrInvalidBlob = errors.New("keys: invalid wrapped key")

	// ErrInvalidParams means caller-supplied argon2id parameters are out of
	// the accepted range (see [Params.Validate]).
	ErrInvalidParams = errors.New("keys: invalid key-derivation parameters")

	// ErrInvalidPublicKey means a public key is malformed, of an unsupported
	// algorithm, or a weak (low-order) point.
	ErrInvalidPublicKey = errors.New("keys: invalid public key")

	// ErrKeyMismatch means a wrapped private key opened correctly but does
	// not belong to the bundle's public key. Since the blob itself is
	// authentic, this points at a substituted or corrupted public key.
	ErrKeyMismatch = errors.New("keys: private key does not match the public key")

	// ErrEmptyUserID means no user id was given. Every wrap is bound to a
	// user id, and an empty one would bind to nothing.
	ErrEmptyUserID = errors.New("keys: empty user id")

	// ErrEmptyPassphrase means an empty passphrase was given for wrapping.
	ErrEmptyPassphrase = errors.New("keys: empty passphrase")

	// ErrRecoveryKeyLength means a typed recovery key has too few or too
	// many characters (separators and spaces are not counted).
	ErrRecoveryKeyLength = errors.New("keys: recovery key has the wrong length")

	// ErrRecoveryKeyCharacter means a typed recovery key contains a
	// character outside the Crockford base32 alphabet.
	ErrRecoveryKeyCharacter = errors.New("keys: recovery key contains an invalid character")

	// ErrRecoveryKeyTypo means a typed recovery key has the right shape but
	// its checksum does not match: almost certainly a typo.
	ErrRecoveryKeyTypo = errors.New("keys: recovery key has a typo (checksum mismatch)")

	// ErrPassphraseTooShort means a passphrase has fewer than
	// [MinPassphraseLength] characters.
	ErrPassphraseTooShort = errors.New("keys: passphrase too short")

	// ErrPassphraseTooCommon means a passphrase is, or is a trivial variation
	// of, a well-known password or phrase.
	ErrPassphraseTooCommon = errors.New("keys: passphrase too common")

	// ErrPassphraseRepetitive means a passphrase is one character repeated.
	ErrPassphraseRepetitive = errors.New("keys: passphrase is one character repeated")

	// ErrPassphraseTooWeak means a passphrase scored below
	// [MinPassphraseScore] in the strength estimate.
	ErrPassphraseTooWeak = errors.New("keys: passphrase too weak")
)
