package keys

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// sampleKey has bytes 0..19, so its text contains both 0 and 1 (checked
// below), which the leniency test needs.
func sampleKey() RecoveryKey {
	var k RecoveryKey
	for i := range k.b {
		k.b[i] = byte(i)
	}
	return k
}

func compact(s string) string { return strings.ReplaceAll(s, "-", "") }

func TestRecoveryKeyTextFormat(t *testing.T) {
	for range 100 {
		k := mustRecoveryKey(t)
		text := k.Text()
		groups := strings.Split(text, "-")
		if len(groups) != 7 {
			t.Fatalf("%d groups", len(groups))
		}
		for _, g := range groups {
			if len(g) != 5 || strings.Trim(g, crockfordAlphabet) != "" {
				t.Fatalf("bad group %q", g)
			}
		}
		back, err := ParseRecoveryKey(text)
		if err != nil {
			t.Fatal(err)
		}
		if !back.Equal(k) {
			t.Fatal("Parse(Text()) differs")
		}
	}
	// Pinned vector: the format is stored on paper by users, so it must
	// never change by accident. Bytes 00 01 02 03 04 read as 5-bit groups
	// are 0 0 0 16 4 0 24 4, i.e. "000G40R4".
	if got, want := sampleKey().Text(), "000G4-0R40M-30E20-9185G-R38E1-W8124-GKP9N"; got != want {
		t.Fatalf("sample key text = %q, want %q", got, want)
	}
}

func TestRecoveryKeyNotLeaked(t *testing.T) {
	k := mustRecoveryKey(t)
	secret := compact(k.Text())
	js, err := json.Marshal(struct{ K RecoveryKey }{k})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q %x", k, k, k, k, k, k), string(js),
	} {
		if strings.Contains(s, secret[:8]) || strings.Contains(strings.ToLower(s), strings.ToLower(secret[:8])) {
			t.Fatalf("recovery key leaked in %q", s)
		}
	}
}

func TestRecoveryKeyEqualAndWipe(t *testing.T) {
	a, b := mustRecoveryKey(t), mustRecoveryKey(t)
	if a.Equal(b) || !a.Equal(a) {
		t.Fatal("Equal is wrong")
	}
	a.Wipe()
	if !a.isZero() {
		t.Fatal("Wipe left data")
	}
}

// TestRecoveryKeyTypos substitutes every character of several keys with
// every other symbol (and the O/I/L aliases), and swaps every pair of
// different neighbours: the checksum must catch all of them.
func TestRecoveryKeyTypos(t *testing.T) {
	keys := []RecoveryKey{sampleKey(), {}}
	for range 50 {
		keys = append(keys, mustRecoveryKey(t))
	}
	replacements := crockfordAlphabet + "OIL" + strings.ToLower(crockfordAlphabet)
	subs, swaps := 0, 0
	for _, k := range keys {
		s := []byte(compact(k.Text()))
		for i := range s {
			orig := s[i]
			for _, r := range []byte(replacements) {
				if crockfordValue[r] == crockfordValue[orig] {
					continue // the same symbol, not a typo
				}
				s[i] = r
				if _, err := ParseRecoveryKey(string(s)); err == nil {
					t.Fatalf("substitution at %d (%c->%c) in %s not caught", i, orig, r, k.Text())
				} else {
					wantErr(t, err, ErrRecoveryKeyTypo)
				}
				subs++
			}
			s[i] = orig
		}
		for i := 0; i+1 < len(s); i++ {
			if s[i] == s[i+1] {
				continue
			}
			s[i], s[i+1] = s[i+1], s[i]
			_, err := ParseRecoveryKey(string(s))
			wantErr(t, err, ErrRecoveryKeyTypo)
			s[i], s[i+1] = s[i+1], s[i]
			swaps++
		}
		// The display form with a swap across a dash is caught too.
		d := []byte(k.Text())
		if d[4] != d[6] {
			d[4], d[6] = d[6], d[4]
			_, err := ParseRecoveryKey(string(d))
			wantErr(t, err, ErrRecoveryKeyTypo)
		}
	}
	t.Logf("%d substitutions and %d adjacent swaps caught", subs, swaps)
}

func TestParseRecoveryKeyLenient(t *testing.T) {
	k := sampleKey()
	text := k.Text()
	if !strings.Contains(text, "0") || !strings.Contains(text, "1") {
		t.Fatalf("sample %q lacks 0 or 1", text)
	}
	variants := map[string]string{
		"as shown":       text,
		"lowercase":      strings.ToLower(text),
		"no separators":  compact(text),
		"spaces":         strings.ReplaceAll(text, "-", " "),
		"mixed spacing":  " \t" + strings.ReplaceAll(text, "-", " - ") + "\r\n",
		"en dashes":      strings.ReplaceAll(text, "-", "–"),
		"O for 0":        strings.ReplaceAll(text, "0", "O"),
		"o for 0":        strings.ReplaceAll(text, "0", "o"),
		"I for 1":        strings.ReplaceAll(text, "1", "I"),
		"l for 1":        strings.ReplaceAll(text, "1", "l"),
		"L for 1":        strings.ReplaceAll(text, "1", "L"),
		"groups of four": regroup(compact(text), 4),
		"one per line":   strings.ReplaceAll(text, "-", "\n"),
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			got, err := ParseRecoveryKey(v)
			if err != nil {
				t.Fatalf("%q: %v", v, err)
			}
			if !got.Equal(k) {
				t.Fatalf("%q parsed to a different key", v)
			}
		})
	}
}

func regroup(s string, n int) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), "-")
}

func TestParseRecoveryKeyErrors(t *testing.T) {
	text := compact(sampleKey().Text())
	for _, c := range []struct {
		in      string
		want    error
		mention string
	}{
		{"", ErrRecoveryKeyLength, "got 0 characters, want 35"},
		{"   - -  ", ErrRecoveryKeyLength, "got 0"},
		{text[:34], ErrRecoveryKeyLength, "got 34"},
		{text + "0", ErrRecoveryKeyLength, "got 36"},
		{text + text, ErrRecoveryKeyLength, "got 70"},
		{"U" + text[1:], ErrRecoveryKeyCharacter, "'U' (in group 1)"},
		{text[:7] + "*" + text[8:], ErrRecoveryKeyCharacter, "'*' (in group 2)"},
		{text[:30] + "Ä" + text[31:], ErrRecoveryKeyCharacter, "'Ä' (in group 7)"},
		{text[:10] + "_" + text[10:], ErrRecoveryKeyCharacter, "'_'"},
		{"ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ", ErrRecoveryKeyTypo, "typo"},
	} {
		_, err := ParseRecoveryKey(c.in)
		wantErr(t, err, c.want)
		if !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%q: error %q does not mention %q", c.in, err, c.mention)
		}
	}
}

func TestGF32(t *testing.T) {
	// a = 2 generates GF(32)*: its powers hit all 31 non-zero elements.
	seen := map[byte]bool{}
	x := byte(1)
	for range 31 {
		seen[x] = true
		x = gfMul(x, 2)
	}
	if x != 1 || len(seen) != 31 {
		t.Fatalf("2 does not have order 31 (back to %d, %d seen)", x, len(seen))
	}
	for a := range byte(32) {
		for b := range byte(32) {
			if gfMul(a, b) != gfMul(b, a) || gfMul(a, b) >= 32 {
				t.Fatal("gfMul not commutative or out of range")
			}
		}
	}
	// checkGen is (x+1)(x+2)(x+4): each of 1, 2, 4 is a root.
	for _, root := range []byte{1, 2, 4} {
		v := byte(1)
		for _, c := range checkGen {
			v = gfMul(v, root) ^ c
		}
		if v != 0 {
			t.Fatalf("g(%d) = %d", root, v)
		}
	}
}
