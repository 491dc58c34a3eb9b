// Package keys holds the master-key cryptography for users who finish their
// account setup in a terminal.
//
// Every user has one X25519 key pair. The public key is stored in the clear;
// the private key is stored twice, each time wrapped (encrypted) under a
// different secret:
//
//   - the passphrase wrap: argon2id stretches the user's passphrase into a
//     256-bit key, which seals the private key with XChaCha20-Poly1305;
//   - the recovery wrap: a 160-bit recovery key, shown once to the user as
//     35 Crockford base32 characters, is expanded with HKDF-SHA256 into a
//     256-bit key, which seals the private key the same way.
//
// Both blobs ([WrappedKey]) and the public key travel together as a [Bundle],
// which is plain JSON that a server can store and check ([Bundle.Validate])
// without ever seeing a secret. Clients create a bundle with [NewBundle],
// open it with [Bundle.UnlockWithPassphrase] or [Bundle.UnlockWithRecoveryKey],
// and replace a forgotten passphrase with [Bundle.ResetPassphrase].
//
// Associated data. Each seal authenticates, besides the ciphertext, the user
// id and every header field of the blob (format version, key algorithm, wrap
// kind, KDF parameters, salt). So a blob only opens for the user it was made
// for, a passphrase blob cannot be presented as a recovery blob or vice versa,
// and no header field can be edited unnoticed. The user id must therefore be
// the stable, server-assigned identifier (a UUID, not an e-mail address or a
// user name that may change): changing it makes the blobs unopenable.
//
// Errors. AEAD decryption cannot tell a wrong secret from a damaged blob, so
// every such failure is the single sentinel [ErrWrongKey]. Problems that are
// visible without a secret (unknown version, absurd KDF parameters, wrong
// lengths) are [ErrInvalidBlob] and are reported before any expensive work.
//
// Passphrases are used as the exact bytes given; this package does not trim
// or Unicode-normalise them, so the caller must present them the same way
// every time (for example, strip the terminal's trailing newline).
//
// Secret hygiene is best effort: the package clears the private-key and
// derived-key byte slices it creates once they are no longer needed, but Go
// gives no guarantee that the runtime, the garbage collector, crypto/ecdh,
// the AEAD or argon2's work area have not kept copies. Callers own the
// private keys returned to them and should clear them (clear(priv)) when done.
//
// The package is pure: no I/O besides crypto/rand, no logging, no globals
// that change after start-up, and all functions are safe for concurrent use.
package keys
