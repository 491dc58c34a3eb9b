package termsafe

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Zoë Ærø 名前", "Zoë Ærø 名前"},
		{"evil\x1b]52;c;AAAA\x07name", "evil�]52;c;AAAA�name"},
		{"\x1b[2Jx", "�[2Jx"},
		{"a\tb\r\nc", "a�b��c"},
		{"csi\u009b2J del\x7f", "csi�2J del�"},
		{"moc.elpmaxe@\u202eada", "moc.elpmaxe@�ada"},         // right-to-left override
		{"a\u2066b\u2069c\u2028d\u200be\ufeff", "a�b�c�d�e�"}, // isolate, separator, zero width
		{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"}, // Persian keeps its joiner
	} {
		if got := Clean(tc.in); got != tc.want {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLines(t *testing.T) {
	got := Lines("first \x1b[31mred\nsecond\x07")
	if got != "first �[31mred\nsecond�" {
		t.Errorf("Lines = %q", got)
	}
	if strings.ContainsAny(got, "\x1b\x07") {
		t.Errorf("Lines left a control character: %q", got)
	}
}
