package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
)

// FuzzParseRecoveryKey: parsing arbitrary text never panics, fails only with
// the documented errors, and whatever it accepts round-trips through Text
// and is the same symbols as the input once separators and aliases are
// normalised.
func FuzzParseRecoveryKey(f *testing.F) {
	sample := sampleKey().Text()
	for _, s := range []string{
		sample, strings.ToLower(sample), strings.ReplaceAll(sample, "-", " "), compact(sample),
		"", "-", "U", "OOOOO-IIIII-LLLLL", "00000-00000-00000-00000-00000-00000-00000",
		"ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ", "é\xff\x00", sample + sample,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseRecoveryKey(s)
		if err != nil {
			if !errors.Is(err, ErrRecoveryKeyLength) && !errors.Is(err, ErrRecoveryKeyCharacter) && !errors.Is(err, ErrRecoveryKeyTypo) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		text := k.Text()
		back, err := ParseRecoveryKey(text)
		if err != nil || !back.Equal(k) {
			t.Fatalf("round trip of %q failed: %v", text, err)
		}
		norm := strings.Map(func(r rune) rune {
			switch {
			case unicode.IsSpace(r) || unicode.Is(unicode.Pd, r):
				return -1
			case r == 'O' || r == 'o':
				return '0'
			case r == 'I' || r == 'i' || r == 'L' || r == 'l':
				return '1'
			}
			return unicode.ToUpper(r)
		}, s)
		if norm != compact(text) {
			t.Fatalf("%q parsed as %q", s, text)
		}
	})
}

const fuzzUser = "fuzz-user"

var fuzzPass = []byte("fuzz passphrase")

// fuzzRecoveryKey is fixed so that seeds made with it can open.
var fuzzRecoveryKey = sampleKey()

// FuzzUnwrapJSON feeds arbitrary JSON to both unwrap functions and to
// Bundle.Validate, as a hostile server could. They must never panic, must
// fail only with ErrWrongKey or ErrInvalidBlob (ErrEmptyUserID cannot occur
// here), must refuse everything Validate refuses, and may succeed only with
// a 32-byte key.
func FuzzUnwrapJSON(f *testing.F) {
	// Fixed, because with -fuzz every worker process runs this setup
	// again, while the seeds it receives were made by the coordinator.
	seed := sha256.Sum256([]byte("scimdesk/keys fuzz private key"))
	priv := seed[:]
	pw, err := WrapWithPassphrase(fuzzUser, priv, fuzzPass, cheapParams)
	if err != nil {
		f.Fatal(err)
	}
	rw, err := WrapWithRecoveryKey(fuzzUser, priv, fuzzRecoveryKey)
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range []any{pw, rw} {
		js, _ := json.Marshal(v)
		f.Add(js)
	}
	f.Add([]byte(`{"v":1,"alg":"x25519","wrap":"argon2id+xchacha20poly1305","kdf":{"time":4294967295,"memoryKiB":4294967295,"threads":255},"salt":"AAAAAAAAAAAAAAAAAAAAAA==","nonce":"","ct":""}`))
	f.Add([]byte(`{"v":1,"alg":"x25519","wrap":"recovery+hkdf-sha256+xchacha20poly1305","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ct":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`))
	f.Add([]byte(`{"v":1,"kdf":null,"salt":null}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"alg":"x25519","pub":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","passphrase":{},"recovery":{}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var b Bundle
		if json.Unmarshal(data, &b) == nil {
			_ = b.Validate()
		}
		var w WrappedKey
		if json.Unmarshal(data, &w) != nil {
			return
		}
		verr := w.Validate()
		check := func(kind string, got []byte, err error) {
			t.Helper()
			switch {
			case err == nil && (verr != nil || len(got) != PrivateKeySize):
				t.Fatalf("%s: accepted a blob Validate refuses (%v) or returned %d bytes", kind, verr, len(got))
			case err != nil && !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrInvalidBlob):
				t.Fatalf("%s: undocumented error %v", kind, err)
			case err != nil && verr != nil && !errors.Is(err, ErrInvalidBlob):
				t.Fatalf("%s: malformed blob gave %v, not ErrInvalidBlob", kind, err)
			case err != nil && got != nil:
				t.Fatalf("%s: key material returned with an error", kind)
			case err == nil && !bytes.Equal(got, priv):
				t.Fatalf("%s: opened to a different key", kind)
			}
		}
		got, err := UnwrapWithRecoveryKey(w, fuzzUser, fuzzRecoveryKey)
		check("recovery", got, err)
		// Valid but costly parameters are out of scope for a fuzzer doing
		// thousands of runs a second; the limits are tested elsewhere.
		if verr == nil && w.KDF != nil && (w.KDF.MemoryKiB > 1024 || w.KDF.Time > 4) {
			return
		}
		got, err = UnwrapWithPassphrase(w, fuzzUser, fuzzPass)
		check("passphrase", got, err)
	})
}

// FuzzCheckPassphrase: never panics, and meter and verdict agree.
func FuzzCheckPassphrase(f *testing.F) {
	for _, s := range []string{"", "password1234", "cobalt lemur visor tundra", "\xff\xfe", "aaaaaaaaaaaa", "1loveyou2024"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		s, err := CheckPassphrase(p)
		if s.Score < 0 || s.Score > 4 || (err == nil) != (s.Score >= MinPassphraseScore) {
			t.Fatalf("%q: %+v, %v", p, s, err)
		}
	})
}
