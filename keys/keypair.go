package keys

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
)

// AlgX25519 names the X25519 key-agreement algorithm (RFC 7748). The name is
// recorded in every bundle and blob so that a later version can introduce
// another algorithm without guessing what stored data contains.
const AlgX25519 = "x25519"

const (
	// PublicKeySize is the length in bytes of an X25519 public key.
	PublicKeySize = 32
	// PrivateKeySize is the length in bytes of an X25519 private key.
	PrivateKeySize = 32
)

// GenerateKeyPair creates a fresh [AlgX25519] key pair from crypto/rand. The
// caller owns priv and should clear it (clear(priv)) once it is wrapped.
func GenerateKeyPair() (pub, priv []byte, err error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("keys: generating key pair: %w", err)
	}
	return k.PublicKey().Bytes(), k.Bytes(), nil
}

// PublicKey derives the public key that belongs to priv under alg.
func PublicKey(alg string, priv []byte) ([]byte, error) {
	if err := checkPrivateKey(alg, priv); err != nil {
		return nil, err
	}
	// ecdh keeps its own copy of the scalar, which we cannot clear.
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return k.PublicKey().Bytes(), nil
}

// checkPrivateKey rejects private keys this package cannot wrap, before any
// expensive work.
func checkPrivateKey(alg string, priv []byte) error {
	if alg != AlgX25519 {
		return fmt.Errorf("keys: unsupported key algorithm %.40q", alg)
	}
	if len(priv) != PrivateKeySize {
		return fmt.Errorf("keys: %s private key must be %d bytes, got %d", alg, PrivateKeySize, len(priv))
	}
	return nil
}

// ValidatePublicKey checks that pub is a usable public key for alg: for
// [AlgX25519], exactly 32 bytes in canonical form (u < 2^255-19, top bit
// clear) and not a low-order point. A low-order point would make every
// shared secret derived with it a fixed, publicly known value, so a server
// should refuse such a key at upload. It needs no secret.
func ValidatePublicKey(alg string, pub []byte) error {
	if alg != AlgX25519 {
		return fmt.Errorf("%w: unsupported algorithm %.40q", ErrInvalidPublicKey, alg)
	}
	if len(pub) != PublicKeySize {
		return fmt.Errorf("%w: %s public key must be %d bytes, got %d", ErrInvalidPublicKey, alg, PublicKeySize, len(pub))
	}
	// RFC 7748 tells receivers to accept non-canonical encodings by
	// reducing them, but keys made here are always canonical, and insisting
	// on one encoding per key keeps stored keys comparable byte for byte.
	if !canonicalX25519(pub) {
		return fmt.Errorf("%w: %s public key is not canonically encoded", ErrInvalidPublicKey, alg)
	}
	k, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPublicKey, err)
	}
	// X25519 clamps every scalar to a multiple of the cofactor 8, so a
	// point of order 1, 2, 4 or 8 multiplies to the identity and crypto/ecdh
	// reports the all-zero output as an error. One scalar multiplication
	// (tens of microseconds) catches every such point, including ones a
	// hard-coded blacklist could miss.
	if _, err := lowOrderProbe().ECDH(k); err != nil {
		return fmt.Errorf("%w: %s public key is a low-order point", ErrInvalidPublicKey, alg)
	}
	return nil
}

// lowOrderProbe is a fixed, public scalar used only to detect low-order
// points; any scalar works because clamping makes it a multiple of 8.
var lowOrderProbe = sync.OnceValue(func() *ecdh.PrivateKey {
	seed := sha256.Sum256([]byte("scimdesk/keys low-order probe"))
	k, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		panic("keys: cannot build low-order probe: " + err.Error())
	}
	return k
})

// fieldPrime is p = 2^255 - 19 in little-endian order.
var fieldPrime = [32]byte{
	0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
}

// canonicalX25519 reports whether the little-endian u-coordinate u is below
// p (which also implies the unused top bit is clear).
func canonicalX25519(u []byte) bool {
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] != fieldPrime[i] {
			return u[i] < fieldPrime[i]
		}
	}
	return false // u == p
}
