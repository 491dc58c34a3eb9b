package filtersql

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/q-uint/parser"
	filter "github.com/scim2/filter-parser/v2"
)

// The filter parser (github.com/scim2/filter-parser/v2 v2.3.1) rejects or mis-reads some
// valid filters, so a pre-pass over the text runs first. What it works around:
//
//   - Inside brackets the parser takes one comparison, or exactly two joined by and/or,
//     or not(...) of those: "emails[type eq "work" and value co "@x" and primary eq true]"
//     and "emails[(type eq "work")]" fail. RFC 7644 allows any filter there.
//   - It has no sub-attribute after brackets ("emails[type eq "work"].value eq "x"").
//   - It takes only upper-case hex digits in \u escapes ("\u00e5" fails).
//   - It leaves escapes in string values ("a\"b" comes out as a\"b).
//   - It takes no space (nor tab or newline) before or after the filter.
//   - Its error positions are byte offsets, and point at the start of the filter for any
//     error before the first complete term.
//
// So the pre-pass checks strings, escapes and the nesting of brackets and parentheses
// itself (precise error positions for the most common mistakes), upper-cases \u hex
// digits, turns tabs and newlines outside strings into spaces, and lifts every value
// filter "attr[...]" out of the text: the bracket's contents are parsed on their own as a
// whole filter, and "attr[...]" is replaced by a placeholder attribute of the same
// length, "$v0___ pr" (or "$v0_____" before ".sub op value"), so that positions in the
// rewritten text are positions in the original. Upper-case operators ("EQ", "And") and
// literals ("True"), URN prefixes and spaces inside strings need nothing: the parser takes
// them.

// placeholderPrefix starts the name of a lifted value filter. A name starting with "$"
// outside brackets (other than a sub-attribute like "members.$ref") is rejected by the
// pre-pass, so a client cannot write one.
const placeholderPrefix = "$v"

// valuePath is a value filter taken out of the text by the pre-pass.
type valuePath struct {
	path   filter.AttributePath // the attribute before the brackets
	filter filter.Expression    // the filter inside them
}

type parsed struct {
	root filter.Expression
	vps  []valuePath
}

// parse runs the pre-pass and the parser over src (at most MaxLength bytes, not blank).
func parse(src string) (*parsed, error) {
	orig := []rune(src)
	out := slices.Clone(orig) // the rewritten text, rune for rune
	var (
		p        parsed
		parens   []int // positions of the open parentheses
		bracket  = -1  // position of the open bracket
		outerPar int   // len(parens) at the open bracket
	)
	depth := func() int {
		if bracket >= 0 {
			return len(parens) + 1
		}
		return len(parens)
	}
	for i := 0; i < len(orig); i++ {
		switch orig[i] {
		case '"':
			end, err := scanString(orig, out, i)
			if err != nil {
				return nil, err
			}
			i = end
		case '\t', '\n', '\r':
			out[i] = ' '
		case '(':
			parens = append(parens, i)
			if depth() > MaxDepth {
				return nil, tooComplex(fmt.Sprintf("nested deeper than %d", MaxDepth))
			}
		case ')':
			floor := 0
			if bracket >= 0 {
				floor = outerPar
			}
			if len(parens) <= floor {
				return nil, invalid("unexpected ')' at position %d", i+1)
			}
			parens = parens[:len(parens)-1]
		case '[':
			if bracket >= 0 {
				return nil, invalid("unexpected '[' at position %d: value filters cannot be nested", i+1)
			}
			bracket, outerPar = i, len(parens)
			if depth() > MaxDepth {
				return nil, tooComplex(fmt.Sprintf("nested deeper than %d", MaxDepth))
			}
		case ']':
			if bracket < 0 {
				return nil, invalid("unexpected ']' at position %d", i+1)
			}
			if len(parens) > outerPar {
				return nil, invalid("missing ')' for the '(' at position %d", parens[len(parens)-1]+1)
			}
			vp, err := lift(orig, out, bracket, i, len(p.vps))
			if err != nil {
				return nil, err
			}
			p.vps = append(p.vps, vp)
			bracket = -1
		case '$':
			if bracket < 0 && (i == 0 || orig[i-1] != '.') {
				end := i + 1
				for end < len(orig) && isPathRune(orig[end]) {
					end++
				}
				return nil, unsupported(string(orig[i:end]))
			}
		}
	}
	if bracket >= 0 {
		return nil, invalid("missing ']' for the '[' at position %d", bracket+1)
	}
	if len(parens) > 0 {
		return nil, invalid("missing ')' for the '(' at position %d", parens[len(parens)-1]+1)
	}
	lo, hi := trimSpace(out, 0, len(out))
	root, err := parseFilter(out[lo:hi], lo, orig)
	if err != nil {
		return nil, err
	}
	p.root = root
	return &p, nil
}

// scanString checks the JSON string that starts at orig[start] and upper-cases the hex
// digits of its \u escapes in out. It returns the position of the closing quote.
func scanString(orig, out []rune, start int) (int, error) {
	for j := start + 1; j < len(orig); j++ {
		switch c := orig[j]; {
		case c == '"':
			return j, nil
		case c == '\\':
			if j+1 >= len(orig) {
				return 0, invalid("missing closing quote for the string at position %d", start+1)
			}
			j++
			switch orig[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(orig) {
					return 0, invalid("invalid escape in string at position %d", j)
				}
				for k := j + 1; k <= j+4; k++ {
					switch h := orig[k]; {
					case h >= 'a' && h <= 'f':
						out[k] = h - 'a' + 'A'
					case h >= 'A' && h <= 'F', h >= '0' && h <= '9':
					default:
						return 0, invalid("invalid escape in string at position %d", j)
					}
				}
				j += 4
			default:
				return 0, invalid("invalid escape in string at position %d", j)
			}
		case c < 0x20:
			return 0, invalid("control character in string at position %d (escape it)", j+1)
		}
	}
	return 0, invalid("missing closing quote for the string at position %d", start+1)
}

// lift parses the value filter whose brackets are at open and closeAt, with the attribute
// before them, and overwrites it in out with the placeholder for index n.
func lift(orig, out []rune, open, closeAt, n int) (valuePath, error) {
	if n >= MaxComparisons {
		return valuePath{}, tooComplex(fmt.Sprintf("more than %d value filters", MaxComparisons))
	}
	end := open
	for end > 0 && out[end-1] == ' ' {
		end--
	}
	start := end
	for start > 0 && isPathRune(orig[start-1]) {
		start--
	}
	if start == end {
		return valuePath{}, invalid("missing attribute before '[' at position %d", open+1)
	}
	path, err := filter.ParseAttrPath([]byte(string(orig[start:end])))
	if err != nil {
		return valuePath{}, invalid("invalid attribute %q before '[' at position %d", shown(string(orig[start:end])), start+1)
	}
	lo, hi := trimSpace(out, open+1, closeAt)
	if lo == hi {
		return valuePath{}, invalid("empty value filter at position %d", open+1)
	}
	inner, err := parseFilter(out[lo:hi], lo, orig)
	if err != nil {
		return valuePath{}, err
	}

	ph := placeholderPrefix + strconv.FormatInt(int64(n), 36)
	size := closeAt + 1 - start
	suffix := " pr"
	if closeAt+1 < len(orig) && orig[closeAt+1] == '.' {
		suffix = "" // the parser reads the placeholder with the ".sub op value" after it
	}
	pad := size - len(ph) - len(suffix)
	if pad < 0 {
		// Not reached: a bracket filter that parses ("a pr") and its attribute take at
		// least 7 characters, the placeholder at most 7 below MaxComparisons.
		return valuePath{}, invalid("syntax error at position %d", start+1)
	}
	copy(out[start:], []rune(ph+strings.Repeat("_", pad)+suffix))
	return valuePath{path: path, filter: inner}, nil
}

// isPathRune says whether r can be part of an attribute path (with URN and sub-attribute).
func isPathRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '_' || r == '-' || r == '$' || r == '.' || r == ':'
}

func trimSpace(rs []rune, lo, hi int) (int, int) {
	for lo < hi && rs[lo] == ' ' {
		lo++
	}
	for hi > lo && rs[hi-1] == ' ' {
		hi--
	}
	return lo, hi
}

// parseFilter parses text, which starts at position off of the original orig (and has as
// many runes as that part of it).
func parseFilter(text []rune, off int, orig []rune) (e filter.Expression, err error) {
	defer func() {
		// A third-party parser fed with client input: a panic in it is a bad filter,
		// not a crashed request.
		if r := recover(); r != nil {
			e, err = nil, invalid("syntax error at position %d", off+1)
		}
	}()
	e, err = filter.ParseFilterNumber([]byte(string(text)))
	if err != nil {
		return nil, syntaxError(err, text, off, orig)
	}
	if e == nil {
		return nil, invalid("syntax error at position %d", off+1)
	}
	return e, nil
}

// syntaxError turns the parser's error into a detail with a position in the original.
func syntaxError(err error, text []rune, off int, orig []rune) error {
	at := 0 // in text
	var pe *parser.ExpectedParseError
	if errors.As(err, &pe) {
		if r, ok := pe.Expected.(rune); ok && r == parser.EOD {
			// The filter parsed up to here and cannot go on. The parser counts bytes;
			// the text has no newline outside strings, and one inside a string has
			// already been rejected, so the column is the offset.
			_, col := pe.Conflict.Position()
			if b := []byte(string(text)); col >= 0 && col <= len(b) {
				at = utf8.RuneCount(b[:col])
			}
			at, _ = trimSpace(text, at, len(text))
			// After "and"/"or" it is the next term that does not parse.
			if kw := keywordAt(text, at); kw > 0 {
				next, _ := trimSpace(text, at+kw, len(text))
				if next == len(text) {
					return invalid("syntax error: unexpected end of filter after %q", string(orig[off+at:off+at+kw]))
				}
				if next > at+kw {
					at = next
				}
			}
		}
		// The parser reports any failure in a term at the term's start. When the
		// term is a parenthesis, the error is inside it: parse that alone to find out
		// where.
		if inner, innerOff, ok := firstGroup(text[at:]); ok {
			if _, err := parseFilter(inner, off+at+innerOff, orig); err != nil {
				return err
			}
		}
	}
	at += off
	for at < len(orig) && orig[at] == ' ' {
		at++
	}
	if at >= len(orig) {
		return invalid("syntax error: unexpected end of filter")
	}
	near := orig[at:]
	if len(near) > 24 {
		return invalid("syntax error at position %d near %q", at+1, string(near[:24])+"…")
	}
	return invalid("syntax error at position %d near %q", at+1, string(near))
}

// keywordAt is the length of the "and" or "or" at text[at] that ends there or before a
// space, or 0.
func keywordAt(text []rune, at int) int {
	for _, kw := range []string{"and", "or"} {
		end := at + len(kw)
		if end <= len(text) && strings.EqualFold(string(text[at:end]), kw) && (end == len(text) || text[end] == ' ') {
			return len(kw)
		}
	}
	return 0
}

// firstGroup returns the contents of the parentheses that text starts with, after an
// optional "not": text (pre-checked for balanced parentheses and strings) is
// "(...)..." or "not (...)...".
func firstGroup(text []rune) ([]rune, int, bool) {
	i := 0
	if len(text) >= 3 && strings.EqualFold(string(text[:3]), "not") {
		i = 3
		for i < len(text) && text[i] == ' ' {
			i++
		}
	}
	if i >= len(text) || text[i] != '(' {
		return nil, 0, false
	}
	depth, inString := 0, false
	for j := i; j < len(text); j++ {
		switch c := text[j]; {
		case inString && c == '\\':
			j++
		case c == '"':
			inString = !inString
		case inString:
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				lo, hi := trimSpace(text, i+1, j)
				if lo == hi {
					return nil, 0, false
				}
				return text[lo:hi], lo, true
			}
		}
	}
	return nil, 0, false
}
