package keys

import (
	"strings"
	"testing"
)

// BenchmarkDeriveDefaultParams measures one argon2id derivation with
// DefaultParams: the cost of every passphrase unlock (and per guess for an
// attacker on the same hardware).
func BenchmarkDeriveDefaultParams(b *testing.B) {
	salt := make([]byte, SaltSize)
	for b.Loop() {
		clear(passphraseKey(testPass, salt, DefaultParams()))
	}
}

// BenchmarkCheckPassphrase shows the cost per keystroke of a live meter.
func BenchmarkCheckPassphrase(b *testing.B) {
	for _, c := range []struct{ name, p string }{
		{"short", "hunter2"},
		{"common", "P@ssw0rd2024!"},
		{"typical", "cobalt lemur visor tundra"},
		{"random16", "kX9#mQ2$vL7p!Rt4"},
		{"long10k", strings.Repeat("kX9#mQ2$vL7p!Rt4", 625)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = CheckPassphrase(c.p)
			}
		})
	}
}

func BenchmarkParseRecoveryKey(b *testing.B) {
	text := sampleKey().Text()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRecoveryKey(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrapWithRecoveryKey(b *testing.B) {
	_, priv := mustKeyPair(b)
	rk := mustRecoveryKey(b)
	w := mustRecoveryBlob(b, priv, rk)
	for b.Loop() {
		k, err := UnwrapWithRecoveryKey(w, testUser, rk)
		if err != nil {
			b.Fatal(err)
		}
		clear(k)
	}
}

func BenchmarkValidatePublicKey(b *testing.B) {
	pub, _ := mustKeyPair(b)
	for b.Loop() {
		if err := ValidatePublicKey(AlgX25519, pub); err != nil {
			b.Fatal(err)
		}
	}
}
