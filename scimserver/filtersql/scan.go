package filtersql

import (
	"errors"
	"fmt"
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
//   - It slows down quadratically on runs of U+FFFD in a string (which is also what
//     invalid UTF-8 becomes): q-uint/parser's LookBack walks back while it decodes
//     utf8.RuneError, and U+FFFD is that rune.
//   - Its error positions are byte offsets, and point at the start of a term for any
//     error inside it.
//
// So the pre-pass checks strings, escapes and the nesting of brackets and parentheses
// itself (precise error positions for the most common mistakes), upper-cases \u hex
// digits, writes U+FFFD in strings as the escape \uFFFD, turns tabs and newlines outside
// strings into spaces, and lifts every value filter "attr[...]" out of the text: the
// bracket's contents are parsed on their own as a whole filter, and "attr[...]" is
// replaced by a placeholder attribute, "$v0 pr" (or "$v0" before ".sub op value"). The
// rewritten text keeps, for each rune, its position in the original, for error details.
// Upper-case operators ("EQ", "And") and literals ("True"), URN prefixes and spaces in
// strings need nothing: the parser takes them.

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

// text is (part of) the rewritten filter: its runes and, for each, the position in the
// original it stands for.
type text struct {
	rs  []rune
	pos []int
}

func (t text) slice(lo, hi int) text { return text{t.rs[lo:hi], t.pos[lo:hi]} }

// trim drops the spaces around t.
func (t text) trim() text {
	lo, hi := 0, len(t.rs)
	for lo < hi && t.rs[lo] == ' ' {
		lo++
	}
	for hi > lo && t.rs[hi-1] == ' ' {
		hi--
	}
	return t.slice(lo, hi)
}

// source is the filter being parsed.
type source struct {
	orig []rune // as the client wrote it
	out  text   // the rewritten filter, as far as the pre-pass has come
	at   []int  // at[i] is where orig[i] starts in out
	vps  []valuePath
	// diagBudget is how many more characters may be parsed again only to find where a
	// syntax error is. It bounds that work to one more parse of a MaxLength filter: the
	// parser takes milliseconds for that, and each nesting level would cost one.
	diagBudget int
}

func (sc *source) emit(r rune, pos int) {
	sc.out.rs = append(sc.out.rs, r)
	sc.out.pos = append(sc.out.pos, pos)
}

// parse runs the pre-pass and the parser over src (at most MaxLength bytes, not blank).
func parse(src string) (*parsed, error) {
	orig := []rune(src)
	sc := &source{
		orig:       orig,
		out:        text{make([]rune, 0, len(orig)+8), make([]int, 0, len(orig)+8)},
		at:         make([]int, len(orig)+1),
		diagBudget: MaxLength,
	}
	var (
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
		sc.at[i] = len(sc.out.rs)
		r := orig[i]
		switch r {
		case '"':
			end, err := sc.scanString(i)
			if err != nil {
				return nil, err
			}
			i = end
			continue
		case '\t', '\n', '\r':
			r = ' '
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
			if err := sc.lift(bracket, i); err != nil {
				return nil, err
			}
			bracket = -1
			continue
		case '$':
			if bracket < 0 && (i == 0 || orig[i-1] != '.') {
				end := i + 1
				for end < len(orig) && isPathRune(orig[end]) {
					end++
				}
				return nil, unsupported(string(orig[i:end]))
			}
		}
		sc.emit(r, i)
	}
	if bracket >= 0 {
		return nil, invalid("missing ']' for the '[' at position %d", bracket+1)
	}
	if len(parens) > 0 {
		return nil, invalid("missing ')' for the '(' at position %d", parens[len(parens)-1]+1)
	}
	root, err := sc.parseFilter(sc.out.trim())
	if err != nil {
		return nil, err
	}
	return &parsed{root: root, vps: sc.vps}, nil
}

// scanString checks the JSON string that starts at orig[start] and emits it with the hex
// digits of its \u escapes upper-cased and U+FFFD escaped. It returns the position of
// the closing quote.
func (sc *source) scanString(start int) (int, error) {
	orig := sc.orig
	sc.emit('"', start)
	for j := start + 1; j < len(orig); j++ {
		sc.at[j] = len(sc.out.rs)
		switch c := orig[j]; {
		case c == '"':
			sc.emit(c, j)
			return j, nil
		case c == '\\':
			if j+1 >= len(orig) {
				return 0, invalid("missing closing quote for the string at position %d", start+1)
			}
			sc.emit(c, j)
			j++
			sc.at[j] = len(sc.out.rs)
			switch e := orig[j]; e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				sc.emit(e, j)
			case 'u':
				if j+4 >= len(orig) {
					return 0, invalid("invalid escape in string at position %d", j)
				}
				sc.emit(e, j)
				for k := j + 1; k <= j+4; k++ {
					sc.at[k] = len(sc.out.rs)
					switch h := orig[k]; {
					case h >= 'a' && h <= 'f':
						sc.emit(h-'a'+'A', k)
					case h >= 'A' && h <= 'F', h >= '0' && h <= '9':
						sc.emit(h, k)
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
		case c == utf8.RuneError:
			for _, e := range `\uFFFD` {
				sc.emit(e, j)
			}
		default:
			sc.emit(c, j)
		}
	}
	return 0, invalid("missing closing quote for the string at position %d", start+1)
}

// lift parses the value filter whose brackets are at open and closeAt (of the original),
// with the attribute before them, and replaces all of it in the output with a placeholder.
func (sc *source) lift(open, closeAt int) error {
	orig := sc.orig
	n := len(sc.vps)
	if n >= MaxComparisons {
		return tooComplex(fmt.Sprintf("more than %d value filters", MaxComparisons))
	}
	end := open
	for end > 0 && (orig[end-1] == ' ' || orig[end-1] == '\t' || orig[end-1] == '\n' || orig[end-1] == '\r') {
		end--
	}
	start := end
	for start > 0 && isPathRune(orig[start-1]) {
		start--
	}
	if start == end {
		return invalid("missing attribute before '[' at position %d", open+1)
	}
	path, err := filter.ParseAttrPath([]byte(string(orig[start:end])))
	if err != nil {
		return invalid("invalid attribute %q before '[' at position %d", shown(string(orig[start:end])), start+1)
	}
	inner := sc.out.slice(sc.at[open]+1, len(sc.out.rs)).trim()
	if len(inner.rs) == 0 {
		return invalid("empty value filter at position %d", open+1)
	}
	f, err := sc.parseFilter(inner)
	if err != nil {
		return err
	}
	sc.vps = append(sc.vps, valuePath{path: path, filter: f})

	cut := sc.at[start]
	sc.out = sc.out.slice(0, cut)
	ph := placeholderPrefix + strconv.FormatInt(int64(n), 36)
	if closeAt+1 >= len(orig) || orig[closeAt+1] != '.' {
		ph += " pr" // else the parser reads the placeholder with the ".sub op value" after it
	}
	for _, r := range ph {
		sc.emit(r, start)
	}
	return nil
}

// isPathRune says whether r can be part of an attribute path (with URN and sub-attribute).
func isPathRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '_' || r == '-' || r == '$' || r == '.' || r == ':'
}

// parseFilter parses t as a whole filter.
func (sc *source) parseFilter(t text) (e filter.Expression, err error) {
	defer func() {
		// A third-party parser fed with client input: a panic in it is a bad filter,
		// not a crashed request.
		if r := recover(); r != nil {
			e, err = nil, sc.syntaxAt(t, 0)
		}
	}()
	e, err = filter.ParseFilterNumber([]byte(string(t.rs)))
	if err != nil {
		return nil, sc.syntaxError(err, t)
	}
	if e == nil {
		return nil, sc.syntaxAt(t, 0)
	}
	return e, nil
}

// syntaxError turns the parser's error for t into a detail with a position in the
// original.
func (sc *source) syntaxError(err error, t text) error {
	at := 0 // in t
	var pe *parser.ExpectedParseError
	if !errors.As(err, &pe) {
		return sc.syntaxAt(t, at)
	}
	if r, ok := pe.Expected.(rune); ok && r == parser.EOD {
		// The filter parsed up to here and cannot go on. The parser counts bytes; t
		// has no newline (outside strings they are spaces, inside them an error), so
		// the column is the offset.
		_, col := pe.Conflict.Position()
		if b := []byte(string(t.rs)); col >= 0 && col <= len(b) {
			at = utf8.RuneCount(b[:col])
		}
		for at < len(t.rs) && t.rs[at] == ' ' {
			at++
		}
		// After "and"/"or" it is the next term that does not parse.
		if kw := keywordAt(t.rs, at); kw > 0 {
			next := at + kw
			for next < len(t.rs) && t.rs[next] == ' ' {
				next++
			}
			if next == len(t.rs) {
				return invalid("syntax error: unexpected end of filter after %q", string(t.rs[at:at+kw]))
			}
			if next > at+kw {
				at = next
			}
		}
	}
	// The parser reports any failure in a term at the term's start. When the term is a
	// parenthesis, the error is inside it: parse that alone to find out where.
	if inner, ok := firstGroup(t.slice(at, len(t.rs))); ok && len(inner.rs) <= sc.diagBudget {
		sc.diagBudget -= len(inner.rs)
		if _, err := sc.parseFilter(inner); err != nil {
			return err
		}
	}
	return sc.syntaxAt(t, at)
}

// syntaxAt is a syntax error at t.rs[at], shown with the original text from there.
func (sc *source) syntaxAt(t text, at int) error {
	pos := len(sc.orig)
	if at < len(t.pos) {
		pos = t.pos[at]
	}
	for pos < len(sc.orig) && sc.orig[pos] == ' ' {
		pos++
	}
	if pos >= len(sc.orig) {
		return invalid("syntax error: unexpected end of filter")
	}
	near := sc.orig[pos:]
	if len(near) > 24 {
		return invalid("syntax error at position %d near %q", pos+1, string(near[:24])+"…")
	}
	return invalid("syntax error at position %d near %q", pos+1, string(near))
}

// keywordAt is the length of the "and" or "or" at rs[at] that ends there or before a
// space, or 0.
func keywordAt(rs []rune, at int) int {
	for _, kw := range []string{"and", "or"} {
		end := at + len(kw)
		if end <= len(rs) && strings.EqualFold(string(rs[at:end]), kw) && (end == len(rs) || rs[end] == ' ') {
			return len(kw)
		}
	}
	return 0
}

// firstGroup returns the contents of the parentheses that t starts with, after an
// optional "not": t (pre-checked for balanced parentheses and strings) is "(...)..." or
// "not (...)...".
func firstGroup(t text) (text, bool) {
	rs := t.rs
	i := 0
	if len(rs) >= 3 && strings.EqualFold(string(rs[:3]), "not") {
		i = 3
		for i < len(rs) && rs[i] == ' ' {
			i++
		}
	}
	if i >= len(rs) || rs[i] != '(' {
		return text{}, false
	}
	depth, inString := 0, false
	for j := i; j < len(rs); j++ {
		switch c := rs[j]; {
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
				inner := t.slice(i+1, j).trim()
				return inner, len(inner.rs) > 0
			}
		}
	}
	return text{}, false
}
