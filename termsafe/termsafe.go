// Package termsafe makes text that came from the network safe to print on a terminal.
//
// userNames, display names, token descriptions and error details reach scimdesk from an
// identity provider or a server; printed raw, an escape sequence in one of them could clear
// the admin's screen, restyle it, or write to their clipboard (OSC 52, which works over SSH).
// The console and the command line both print through this package, so there is one rule.
package termsafe

import "strings"

// Replacement stands in for each control character, so that the text stays recognisable
// and the reader sees that something was there.
const Replacement = '�'

// Clean returns s with every control character (C0, DEL and C1, which includes ESC, BEL,
// CR, LF and tab, and the invisible characters IsControl names) replaced by Replacement: the result is one line that cannot move the
// cursor, start an escape sequence, or break a table's columns.
func Clean(s string) string {
	if !strings.ContainsFunc(s, IsControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if IsControl(r) {
			return Replacement
		}
		return r
	}, s)
}

// Lines is Clean for multi-line text, such as an error message: it keeps the line breaks
// and cleans each line.
func Lines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Clean(l)
	}
	return strings.Join(lines, "\n")
}

// IsControl reports whether r is a C0 or C1 control character or DEL, or a character
// that changes how the rest of the line is shown. C1 matters: U+009B is a single-character
// CSI on terminals that honour 8-bit controls. So do the bidirectional controls (U+202E
// turns "ada@example.com" into what reads as another name), the line and paragraph
// separators (a line break to some terminals) and the zero-width space, which makes two
// names that print alike differ. The marks and joiners that right-to-left and Indic
// scripts use inside names are left alone.
func IsControl(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return true
	case r == 0x200b: // zero width space (the joiners stay: Persian and Indic names need them)
		return true
	case r >= 0x2028 && r <= 0x202e: // line and paragraph separators, embeddings, overrides
		return true
	case r >= 0x2066 && r <= 0x2069: // isolates
		return true
	case r == 0xfeff: // zero width no-break space
		return true
	}
	return false
}
