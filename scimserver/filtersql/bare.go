package filtersql

import (
	"regexp"
	"strconv"
	"strings"
)

// quoteBare puts quotes around comparison values written without them, as Microsoft's
// SCIM reference implementation accepts and its validator sends: userName sw O,
// name.familyName eq Employee. A word after "attribute operator" that is not true,
// false, null or a number is read as a string. Filters without such a word come back
// unchanged, so their error positions stay exact.
func quoteBare(f string) string {
	var (
		out     strings.Builder
		changed bool
		prev    [2]string // the last two words, most recent first; "" after punctuation
	)
	push := func(w string) { prev[1], prev[0] = prev[0], w }
	last := 0 // f[:last] is written to out (only once something changed)
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(f) && f[j] != '"' {
				if f[j] == '\\' {
					j++
				}
				j++
			}
			i = min(j+1, len(f))
			push("\"") // a string is a value: what follows is not one
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(' || c == ')' || c == '[' || c == ']':
			push("")
			i++
		default:
			j := i
			for j < len(f) && !strings.ContainsRune(" \t\r\n()[]\"", rune(f[j])) {
				j++
			}
			w := f[i:j]
			if isOperator(prev[0]) && isAttrWord(prev[1]) && needsQuotes(w) {
				out.WriteString(f[last:i])
				out.WriteString(strconv.Quote(w))
				last, changed = j, true
				push("\"")
			} else {
				push(w)
			}
			i = j
		}
	}
	if !changed {
		return f
	}
	out.WriteString(f[last:])
	return out.String()
}

func isOperator(w string) bool {
	switch strings.ToLower(w) {
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
		return true
	}
	return false
}

// isAttrWord says whether w can be the attribute of a comparison (not a keyword, not a
// value).
func isAttrWord(w string) bool {
	if w == "" || w == "\"" {
		return false
	}
	switch strings.ToLower(w) {
	case "and", "or", "not", "true", "false", "null":
		return false
	}
	if isOperator(w) {
		return false
	}
	for _, r := range w {
		if !isPathRune(r) {
			return false
		}
	}
	return true
}

// needsQuotes says whether a word in value position is a bare string.
func needsQuotes(w string) bool {
	switch strings.ToLower(w) {
	case "true", "false", "null", "and", "or", "not", "pr":
		return false
	}
	// A number (even a malformed or out-of-range one, which the parser reports as
	// such) stays a number; a single-quoted value stays an error, not a string with
	// quotes in it.
	if strings.HasPrefix(w, "'") || numberLike.MatchString(w) {
		return false
	}
	return true
}

var numberLike = regexp.MustCompile(`^[-+]?[0-9.][0-9.eE+-]*$`)
