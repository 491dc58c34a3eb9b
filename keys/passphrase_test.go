package keys

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCheckPassphrase(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    error // nil: accepted
		mention string
	}{
		// Too short, counted in characters, not bytes.
		{"", ErrPassphraseTooShort, "12 more"},
		{"short", ErrPassphraseTooShort, "7 more"},
		{"kX9#mQ2$vL7", ErrPassphraseTooShort, "1 more"},
		{"ééééé ééééé", ErrPassphraseTooShort, "11 of at least 12"},
		{"日本語のパスワード", ErrPassphraseTooShort, "3 more"},
		// Common passwords, phrases and trivial variations.
		{"password1234", ErrPassphraseTooCommon, "well-known"},
		{"P@ssw0rd2024!", ErrPassphraseTooCommon, ""},
		{"PASSWORDPASSWORD", ErrPassphraseTooCommon, ""},
		{"correct horse battery staple", ErrPassphraseTooCommon, ""},
		{"Correct-Horse-Battery-Staple!", ErrPassphraseTooCommon, ""},
		{"qwertyuiop12", ErrPassphraseTooCommon, ""},
		{"summer2024!!", ErrPassphraseTooCommon, ""},
		{"hunter2hunter2", ErrPassphraseTooCommon, ""},
		{"1loveyou2024", ErrPassphraseTooCommon, ""},
		{"!!!!iloveyou!!!!", ErrPassphraseTooCommon, ""},
		// One character repeated.
		{"aaaaaaaaaaaa", ErrPassphraseRepetitive, ""},
		{"            ", ErrPassphraseRepetitive, ""},
		{"éééééééééééé", ErrPassphraseRepetitive, ""},
		// Patterns that leave too little to guess.
		{"zxcvbnmasdfg", ErrPassphraseTooWeak, "common word"},
		{"abcdefghijkl", ErrPassphraseTooWeak, "sequence"},
		{"12345678901234", ErrPassphraseTooWeak, "sequence"},
		{"abcabcabcabc", ErrPassphraseTooWeak, ""},
		{"Monkey!Dragon7", ErrPassphraseTooWeak, "common word"},
		{"aaaaaabbbbbbcccccc", ErrPassphraseTooWeak, "repeated"},
		{"xyzxyzxyzxyzxyz", ErrPassphraseTooWeak, ""},
		{strings.Repeat("ab", 5000), ErrPassphraseTooWeak, ""},
		// Acceptable passphrases.
		{"kX9#mQ2$vL7p", nil, ""},
		{"Tr0ub4dor&3x", nil, ""},
		{"cobalt lemur visor tundra", nil, ""},
		{"7hUnder-Pl4net-oRbit", nil, ""},
		{"ĉiuj ŝatas kukojn", nil, ""},
		{"purple monkey dishwasher", nil, ""},
	} {
		s, err := CheckPassphrase(c.in)
		name := c.in
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		if c.want == nil {
			if err != nil {
				t.Errorf("%q refused: %v (%+v)", name, err, s)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%q: error = %v, want %v (%+v)", name, err, c.want, s)
			continue
		}
		if !strings.Contains(err.Error()+" "+s.Reason, c.mention) {
			t.Errorf("%q: %q / %q does not mention %q", name, err, s.Reason, c.mention)
		}
	}
}

func TestStrengthOrdering(t *testing.T) {
	score := func(p string) int { s, _ := CheckPassphrase(p); return s.Score }
	if got := score("cobalt lemur visor tundra"); got != 4 {
		t.Errorf("four uncommon words scored %d, want 4", got)
	}
	if got := score("kX9#mQ2$vL7p"); got != 3 {
		t.Errorf("12 random characters scored %d, want 3", got)
	}
	if a, b := score("monkeydragon"), score("mqnkeydrbgon"); a >= b {
		t.Errorf("common words (%d) did not score below random letters (%d)", a, b)
	}
}

// TestStrengthInvariants checks, on the table and on random input, that the
// meter and the verdict agree and that reasons never echo the passphrase.
func TestStrengthInvariants(t *testing.T) {
	inputs := []string{"", "a", "password", "cobalt lemur visor tundra", "\xff\xfe\xfd invalid utf8 \xc3"}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !@#$%-_.éß日本🔑")
	for range 2000 {
		n := r.IntN(40)
		rs := make([]rune, n)
		for i := range rs {
			rs[i] = alphabet[r.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(rs))
	}
	for _, p := range inputs {
		s, err := CheckPassphrase(p)
		if s.Score < 0 || s.Score > 4 || s.Label != strengthLabels[s.Score] || s.Reason == "" {
			t.Fatalf("%q: bad strength %+v", p, s)
		}
		if (err == nil) != (s.Score >= MinPassphraseScore) {
			t.Fatalf("%q: verdict %v disagrees with score %d", p, err, s.Score)
		}
		if len(p) >= 4 && (strings.Contains(s.Reason, p) || (err != nil && strings.Contains(err.Error(), p))) {
			t.Fatalf("%q: passphrase echoed in %q / %v", p, s.Reason, err)
		}
	}
}
