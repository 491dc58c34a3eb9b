package keys

import (
	"errors"
	"math"
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
		{"short", ErrPassphraseTooShort, "7 more characters needed"},
		{"kX9#mQ2$vL7", ErrPassphraseTooShort, "1 more character needed"},
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
		{"i_love_you_2024", ErrPassphraseTooCommon, ""}, // punctuation inside hides nothing
		{"2024 1loveyou", ErrPassphraseTooCommon, ""},   // 1 for i, behind other leading decoration
		{"Hell0 2024!!", ErrPassphraseTooCommon, ""},    // 0 for o, before other trailing decoration
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
		{"lovebluebabyjune", ErrPassphraseTooWeak, "common word"}, // four-letter words, one at the very end
		{"qqqzzzmmmxxx", ErrPassphraseTooWeak, "repeated"},        // runs of three
		{"abc789xyz321", ErrPassphraseTooWeak, "sequence"},        // sequences of three
		{"poiuytrewq!!", ErrPassphraseTooWeak, "sequence"},        // a keyboard row backwards
		{"zq7#zq7%zq7&", ErrPassphraseTooWeak, "repeats part"},    // echoes of three
		{"k9#mQ2k9#mQ2", ErrPassphraseTooWeak, "repeats part"},
		{strings.Repeat("ab", 5000), ErrPassphraseTooWeak, ""},
		// No letters at all, right at the analysis limit and either side of it.
		{strings.Repeat("1234567890", 13)[:analysisLimit-1], ErrPassphraseTooWeak, ""},
		{strings.Repeat("1234567890", 13)[:analysisLimit], ErrPassphraseTooWeak, ""},
		{strings.Repeat("1234567890", 13)[:analysisLimit+1], ErrPassphraseTooWeak, ""},
		// Acceptable passphrases.
		{"kX9#mQ2$vL7p", nil, ""},
		{"Tr0ub4dor&3x", nil, ""},
		{"cobalt lemur visor tundra", nil, ""},
		{"7hUnder-Pl4net-oRbit", nil, ""},
		{"ĉiuj ŝatas kukojn", nil, ""},
		{"purple monkey dishwasher", nil, ""},
		{"kX9#mQ2$kX9#mQ2$", nil, ""}, // typed twice: the copy adds little, but enough
		// Long enough that its last word starts near the end of what is analysed.
		{"cobalt lemur visor tundra glacier ember quartz falcon meadow violet harbor sierra canyon otter dragon", nil, ""},
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
	if s, _ := CheckPassphrase("kX9#mQ2$vL7p"); s.Score != 3 || !strings.Contains(s.Reason, "a little longer") {
		t.Errorf("12 random characters: score %d, hint %q; want 3 and a hint to make it longer", s.Score, s.Reason)
	}
	if a, b := score("monkeydragon"), score("mqnkeydrbgon"); a >= b {
		t.Errorf("common words (%d) did not score below random letters (%d)", a, b)
	}

	// Each pair differs by a trick an attacker tries early: the second must
	// be estimated stronger than the first, if only by a little.
	bits := func(p string) float64 { s, _ := CheckPassphrase(p); return s.Bits }
	for _, c := range []struct{ weaker, stronger, why string }{
		{"monkeydragon", "Monkeydragon", "a capital in a common word"},
		{"monkeydragon", "m0nkeydragon", "a look-alike substitution in a common word"},
		{"Tr0ub4dor&3xzzz", "Tr0ub4dor&3xzzzzzz", "a longer run of one character"},
		{"Tr0ub4dor&3xTr0ub", "Tr0ub4dor&3xTr0ub4dor", "a longer repeat of an earlier stretch"},
	} {
		if a, b := bits(c.weaker), bits(c.stronger); a >= b {
			t.Errorf("%s did not add strength: %q %.1f bits, %q %.1f bits", c.why, c.weaker, a, c.stronger, b)
		}
	}
	// Every letter is worth the same, whatever its case and wherever it is
	// in the alphabet, and so is every digit: only the characters at the
	// ends of a-z, A-Z and 0-9 differ between these two.
	if a, b := bits("m#Kq8x!Wv3j%"), bits("a#Aq0x!Zv9z%"); math.Abs(a-b) > 1e-9 {
		t.Errorf("letters or digits at the ends of their range are worth differently: %.2f and %.2f bits", a, b)
	}
	if a, b := bits("kqxjvwmz"), bits("KQXJVWMZ"); math.Abs(a-b) > 1e-9 {
		t.Errorf("lowercase and capital letters are worth differently: %.2f and %.2f bits", a, b)
	}
	// A digit is one of 10, a letter one of 26, a symbol one of 33.
	if d, l, y := bits("73951826"), bits("kqxjvwmz"), bits("#&(;<~?{"); d >= l || l >= y {
		t.Errorf("digits %.2f, letters %.2f, symbols %.2f bits: want digits < letters < symbols", d, l, y)
	}
}

// TestPassphraseAtTheMinimum: a passphrase estimated at exactly the bits
// the policy asks for is accepted. Five runs of four non-ASCII letters cost
// 6+2 bits each, a whole number, so the sum can land on the threshold.
func TestPassphraseAtTheMinimum(t *testing.T) {
	const p = "ЖЖЖЖДДДДФФФФШШШШЮЮЮЮ"
	s, err := CheckPassphrase(p)
	if s.Bits != scoreThresholds[MinPassphraseScore-1] {
		t.Fatalf("%q is estimated at %v bits, not exactly the minimum %v: the example needs updating",
			p, s.Bits, scoreThresholds[MinPassphraseScore-1])
	}
	if err != nil || s.Score != MinPassphraseScore {
		t.Fatalf("%q at exactly the minimum: score %d, error %v", p, s.Score, err)
	}
}

// TestCheckPassphraseDigitsAlike: a digit that does not look like a letter
// (2, 6, 9) is part of the passphrase wherever it stands, so which one is
// used never changes the verdict.
func TestCheckPassphraseDigitsAlike(t *testing.T) {
	verdict := func(p string) error {
		_, err := CheckPassphrase(p)
		for _, e := range []error{ErrPassphraseTooShort, ErrPassphraseTooCommon, ErrPassphraseRepetitive, ErrPassphraseTooWeak} {
			if errors.Is(err, e) {
				return e
			}
		}
		return err
	}
	for _, tmpl := range []string{"Hello#World!", "password#password", "i#love#you#", "trust#no1 forever"} {
		first := strings.ReplaceAll(tmpl, "#", "2")
		want := verdict(first)
		for _, d := range []string{"6", "9"} {
			p := strings.ReplaceAll(tmpl, "#", d)
			if got := verdict(p); got != want {
				t.Errorf("%q: %v, but %q: %v", p, got, first, want)
			}
		}
	}
}

// TestStrengthInvariants checks, on the table and on random input, that the
// meter and the verdict agree and that reasons never echo the passphrase.
func TestStrengthInvariants(t *testing.T) {
	inputs := []string{"", "a", "password", "cobalt lemur visor tundra", "\xff\xfe\xfd invalid utf8 \xc3",
		// Either side of the ASCII boundary, in both orders.
		"x\u0080y\u007f\u0080\u0081z", "\u0080\u0080\u0080\u0080\u0080\u0080\u0080\u0080\u0080\u0080\u0080\u0080"}
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
