package keys

import (
	"bytes"
	"testing"
)

func TestGenerateKeyPair(t *testing.T) {
	pub, priv := mustKeyPair(t)
	if len(pub) != PublicKeySize || len(priv) != PrivateKeySize {
		t.Fatalf("sizes %d/%d", len(pub), len(priv))
	}
	if err := ValidatePublicKey(AlgX25519, pub); err != nil {
		t.Fatal(err)
	}
	got, err := PublicKey(AlgX25519, priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pub) {
		t.Fatal("PublicKey(priv) differs from the generated public key")
	}
	pub2, _ := mustKeyPair(t)
	if bytes.Equal(pub, pub2) {
		t.Fatal("two key pairs share a public key")
	}
}

func TestPublicKeyRejects(t *testing.T) {
	if _, err := PublicKey(AlgX25519, make([]byte, 31)); err == nil {
		t.Error("accepted a 31-byte private key")
	}
	if _, err := PublicKey("ed25519", make([]byte, 32)); err == nil {
		t.Error("accepted an unknown algorithm")
	}
}

func TestValidatePublicKey(t *testing.T) {
	fill := func(first, middle, last byte) []byte {
		b := bytes.Repeat([]byte{middle}, 32)
		b[0], b[31] = first, last
		return b
	}
	one := make([]byte, 32)
	one[0] = 1
	pub, _ := mustKeyPair(t)
	highBit := append([]byte(nil), pub...)
	highBit[31] |= 0x80

	bad := map[string][]byte{
		"empty":     nil,
		"short":     make([]byte, 31),
		"long":      make([]byte, 33),
		"zero":      make([]byte, 32),
		"one":       one,
		"p-1":       fill(0xec, 0xff, 0x7f), // order 2
		"p":         fill(0xed, 0xff, 0x7f), // non-canonical 0
		"p+1":       fill(0xee, 0xff, 0x7f), // non-canonical 1
		"all-ff":    fill(0xff, 0xff, 0xff),
		"high bit":  highBit,
		"order 8 a": {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
		"order 8 b": {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			wantErr(t, ValidatePublicKey(AlgX25519, b), ErrInvalidPublicKey)
		})
	}
	// Canonical keys up to the largest one that is not of low order are
	// accepted, and so is one whose last byte alone is below p's.
	good := map[string][]byte{
		"generated": pub,
		"p-2":       fill(0xeb, 0xff, 0x7f),
		"p-19":      fill(0xda, 0xff, 0x7f),
		"top 0x7e":  fill(0xff, 0xff, 0x7e),
	}
	for name, b := range good {
		if err := ValidatePublicKey(AlgX25519, b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	wantErr(t, ValidatePublicKey("ed25519", pub), ErrInvalidPublicKey)
	wantErr(t, ValidatePublicKey("", pub), ErrInvalidPublicKey)
}
