package keys

// This file holds the recovery key's text encoding: Crockford base32 symbols
// and a three-symbol checksum.
//
// Why not a truncated SHA-256 as checksum: a hash catches a typo only with
// high probability, never with certainty. The checksum here is a linear code
// over GF(32) (the field whose elements are exactly the base32 symbols):
// the 35 symbols, read as the coefficients of a polynomial C(x), must be a
// multiple of g(x) = (x+1)(x+a)(x+a^2), where a is a generator of GF(32).
// Consequently:
//
//   - any single wrong character E(x) = e*x^k is caught, since E(1) = e != 0;
//   - any swap of two different adjacent characters is caught: the error is
//     E(x) = d*x^k*(x+1), and E(a) = d*a^k*(a+1) != 0;
//   - any two wrong characters are caught unless they are exactly 31
//     positions apart with the same error value;
//   - a random string passes with probability 2^-15.

// crockfordAlphabet is Crockford's base32: digits and letters without I, L,
// O and U, which are too easily confused (or, for U, offensive).
const crockfordAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// crockfordValue maps an ASCII byte to its 5-bit value, or -1. Parsing is
// lenient the way Crockford specifies: lowercase is accepted, O reads as 0,
// and I and L read as 1.
var crockfordValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for v, c := range []byte(crockfordAlphabet) {
		t[c] = int8(v)
		t[c|0x20] = int8(v) // lowercase; a no-op for digits
	}
	for _, c := range []byte("Oo") {
		t[c] = 0
	}
	for _, c := range []byte("IiLl") {
		t[c] = 1
	}
	return t
}()

// gfPoly is the primitive polynomial x^5 + x^2 + 1 defining GF(32); the
// element a = x (the value 2) then generates all 31 non-zero elements.
const gfPoly = 0x25

// gfMul multiplies in GF(32). Five shift-and-add steps are cheaper than it
// would be to reason about log tables.
func gfMul(a, b byte) byte {
	var p byte
	for range 5 {
		if b&1 != 0 {
			p ^= a
		}
		b >>= 1
		a <<= 1
		if a&0x20 != 0 {
			a ^= gfPoly
		}
	}
	return p
}

// checkGen holds g1, g2, g3 of g(x) = x^3 + g1 x^2 + g2 x + g3 =
// (x+1)(x+2)(x+4) in GF(32); a test recomputes it from its roots.
var checkGen = [3]byte{7, 14, 8}

// checkSymbols is the number of checksum symbols appended to the key.
const checkSymbols = 3

// checkRemainder returns (S(x) * x^3) mod g(x) for the symbols S, fed most
// significant first. Appending this remainder to data makes the whole
// sequence a multiple of g(x), and a sequence is valid exactly when its own
// remainder is zero (x^3 and g(x) share no factor because g(0) != 0).
func checkRemainder(syms []byte) [checkSymbols]byte {
	var r [checkSymbols]byte
	for _, s := range syms {
		fb := s ^ r[0]
		r[0] = r[1] ^ gfMul(fb, checkGen[0])
		r[1] = r[2] ^ gfMul(fb, checkGen[1])
		r[2] = gfMul(fb, checkGen[2])
	}
	return r
}
