package keys

import (
	"crypto/subtle"
	"fmt"
	"strings"
	"unicode"
)

const (
	// RecoveryKeySize is the number of random bytes in a recovery key: 160
	// bits, far beyond brute force, yet only 32 characters to type.
	RecoveryKeySize = 20
	// RecoveryKeyChars is the number of significant characters in a typed
	// recovery key: 32 for the key and 3 for the checksum.
	RecoveryKeyChars = RecoveryKeySize*8/5 + checkSymbols
	// recoveryGroup is the number of characters between dashes: 7 groups of
	// 5 are easier to read out and copy than one run of 35.
	recoveryGroup = 5
)

// RecoveryKey is the secret that can replace a forgotten passphrase. The zero
// value is not a usable key; make one with [NewRecoveryKey] or
// [ParseRecoveryKey].
//
// It deliberately has no MarshalText or String method that reveals it, so
// logging it or encoding it as JSON by accident leaks nothing; call
// [RecoveryKey.Text] to show it to the user.
type RecoveryKey struct {
	b [RecoveryKeySize]byte
}

// NewRecoveryKey returns a fresh random recovery key.
func NewRecoveryKey() (RecoveryKey, error) {
	var k RecoveryKey
	b, err := randomBytes(RecoveryKeySize)
	if err != nil {
		return RecoveryKey{}, err
	}
	copy(k.b[:], b)
	clear(b)
	return k, nil
}

// Text returns the key for display to the user, e.g.
// "6SM3E-V9W1K-...-QX2P4": 35 uppercase Crockford base32 characters in
// groups of 5. It is the secret itself; show it, never log it.
func (k RecoveryKey) Text() string {
	var syms [RecoveryKeyChars]byte
	toSymbols(&k.b, (*[RecoveryKeyChars - checkSymbols]byte)(syms[:]))
	r := checkRemainder(syms[:RecoveryKeyChars-checkSymbols])
	copy(syms[RecoveryKeyChars-checkSymbols:], r[:])

	var sb strings.Builder
	sb.Grow(RecoveryKeyChars + RecoveryKeyChars/recoveryGroup)
	for i, s := range syms {
		if i > 0 && i%recoveryGroup == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(crockfordAlphabet[s])
	}
	clear(syms[:])
	return sb.String()
}

// String returns a redacted placeholder so that printing a RecoveryKey with
// fmt or a logger does not reveal it. Use [RecoveryKey.Text] to display it.
func (k RecoveryKey) String() string { return "keys.RecoveryKey(REDACTED)" }

// GoString is the %#v form; it is redacted for the same reason as String.
func (k RecoveryKey) GoString() string { return k.String() }

// Equal reports whether k and other are the same key, in constant time (it is
// used to confirm that a user wrote the key down correctly).
func (k RecoveryKey) Equal(other RecoveryKey) bool {
	return subtle.ConstantTimeCompare(k.b[:], other.b[:]) == 1
}

// Wipe overwrites k with zeros. Copies made earlier (RecoveryKey is a value
// type) are not affected; this is best effort.
func (k *RecoveryKey) Wipe() { clear(k.b[:]) }

func (k RecoveryKey) isZero() bool { return k == RecoveryKey{} }

// ParseRecoveryKey reads a recovery key as typed by a user. It ignores case,
// spaces and dashes (any Unicode space or dash, so text pasted from a
// document works), and reads O as 0 and I or L as 1.
//
// Errors: [ErrRecoveryKeyCharacter] names the first character that cannot be
// part of a key; [ErrRecoveryKeyLength] says how many characters were found;
// [ErrRecoveryKeyTypo] means the checksum failed, which a single mistyped
// character or a swap of two neighbours always causes. The errors never
// quote more than one character of the input, since it is a secret.
func ParseRecoveryKey(s string) (RecoveryKey, error) {
	var syms [RecoveryKeyChars]byte
	defer clear(syms[:])
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) {
			continue
		}
		v := int8(-1)
		if r < 0x80 {
			v = crockfordValue[r]
		}
		if v < 0 {
			return RecoveryKey{}, fmt.Errorf("%w: %q (in group %d) is not a recovery-key character",
				ErrRecoveryKeyCharacter, r, n/recoveryGroup+1)
		}
		if n < RecoveryKeyChars {
			syms[n] = byte(v)
		}
		n++
	}
	if n != RecoveryKeyChars {
		return RecoveryKey{}, fmt.Errorf("%w: got %d characters, want %d", ErrRecoveryKeyLength, n, RecoveryKeyChars)
	}
	if checkRemainder(syms[:]) != [checkSymbols]byte{} {
		return RecoveryKey{}, fmt.Errorf("%w: please check each character", ErrRecoveryKeyTypo)
	}
	var k RecoveryKey
	fromSymbols((*[RecoveryKeyChars - checkSymbols]byte)(syms[:]), &k.b)
	return k, nil
}

// toSymbols splits the key into 5-bit symbols, most significant bit first.
// 160 bits divide evenly into 32 symbols, so there is no padding.
func toSymbols(b *[RecoveryKeySize]byte, out *[RecoveryKeyChars - checkSymbols]byte) {
	var acc uint32
	bits, j := 0, 0
	for _, x := range b {
		acc = acc<<8 | uint32(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[j] = byte(acc>>bits) & 31
			j++
		}
	}
}

// fromSymbols is the inverse of toSymbols.
func fromSymbols(syms *[RecoveryKeyChars - checkSymbols]byte, out *[RecoveryKeySize]byte) {
	var acc uint32
	bits, j := 0, 0
	for _, s := range syms {
		acc = acc<<5 | uint32(s)
		bits += 5
		if bits >= 8 {
			bits -= 8
			out[j] = byte(acc >> bits)
			j++
		}
	}
}
