package filtersql

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"
)

// Path is a parsed PATCH path (RFC 7644 §3.5.2, the PATH rule): an attribute path, or a
// multi-valued attribute with a value filter and optionally a sub-attribute after it.
type Path struct {
	// Attr is the attribute, with its URN prefix; without a filter it may carry a
	// sub-attribute (name.givenName).
	Attr filter.AttributePath
	// Filter is the value filter in brackets, or nil.
	Filter filter.Expression
	// Sub is the sub-attribute after the brackets (emails[type eq "work"].value), or "".
	Sub string
}

// simplePath matches paths without a value filter: active, name.givenName, and the same
// prefixed with a schema URN. They are most of what clients send, and the general parser
// costs more than the rest of a PATCH.
var simplePath = regexp.MustCompile(`^(?:(urn:[A-Za-z0-9:._-]+):)?([A-Za-z$][A-Za-z0-9_$-]*)(?:\.([A-Za-z$][A-Za-z0-9_$-]*))?$`)

// ParsePath parses a PATCH path with the same pre-pass and the same limits (MaxLength,
// MaxDepth, MaxComparisons) as a filter, so that a path costs no more to parse than a
// list filter may. Errors wrap ErrInvalidFilter and have a detail safe to show.
func ParsePath(path string) (Path, error) {
	if len(path) > MaxLength {
		return Path{}, tooComplex(fmt.Sprintf("longer than %d bytes", MaxLength))
	}
	path = strings.TrimSpace(path)
	if m := simplePath.FindStringSubmatch(path); m != nil {
		var p Path
		if m[1] != "" {
			uri := m[1]
			p.Attr.URIPrefix = &uri
		}
		p.Attr.AttributeName = m[2]
		if m[3] != "" {
			sub := m[3]
			p.Attr.SubAttribute = &sub
		}
		return p, nil
	}
	path = quoteBare(path)
	if p, ok := fastValuePath(path); ok {
		return p, nil
	}
	if path == "" || !strings.Contains(path, "[") {
		return Path{}, invalid("invalid path %q", shown(path))
	}
	// A value path is a filter term: the pre-pass lifts the brackets into a placeholder
	// ("$v0 pr", or "$v0" before ".sub", which then needs an operator: " pr"), checks
	// strings, nesting and depth, and parses what is inside.
	src := path
	if !strings.HasSuffix(path, "]") {
		src += " pr"
	}
	parsed, err := parse(src)
	if err != nil {
		return Path{}, err
	}
	root, ok := parsed.root.(*filter.AttributeExpression)
	if !ok || len(parsed.vps) != 1 || !strings.EqualFold(string(root.Operator), string(filter.PR)) ||
		root.AttributePath.URIPrefix != nil || root.AttributePath.AttributeName != placeholderPrefix+"0" {
		return Path{}, invalid("invalid path %q", shown(path))
	}
	vp := parsed.vps[0]
	if vp.path.SubAttribute != nil {
		return Path{}, invalid("a value filter must follow a multi-valued attribute, not %s", shown(vp.path.String()))
	}
	if n := comparisons(vp.filter); n > MaxComparisons {
		return Path{}, tooComplex(fmt.Sprintf("more than %d comparisons", MaxComparisons))
	}
	if err := plainValues(vp.filter); err != nil {
		return Path{}, err
	}
	p := Path{Attr: vp.path, Filter: vp.filter}
	if root.AttributePath.SubAttribute != nil {
		p.Sub = *root.AttributePath.SubAttribute
	}
	return p, nil
}

// comparisons counts the comparisons in e; a nested value path counts as too many, since
// RFC 7644 does not allow one inside brackets.
func comparisons(e filter.Expression) int {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		return comparisons(x.Left) + comparisons(x.Right)
	case *filter.NotExpression:
		return comparisons(x.Expression)
	case *filter.AttributeExpression:
		return 1
	}
	return MaxComparisons + 1
}

// simpleValuePath matches the value paths clients send (emails[type eq "work"].value,
// members[value eq "id"]): one comparison with a plain string. A request may carry a
// thousand of them, and the general parser costs a quarter of a millisecond each.
var simpleValuePath = regexp.MustCompile(`^(?:(urn:[A-Za-z0-9:._-]+):)?([A-Za-z][A-Za-z0-9_-]*)\[[ ]*([A-Za-z][A-Za-z0-9_$-]*)[ ]+(?i:(eq|ne|co|sw|ew|gt|ge|lt|le))[ ]+"([^"\\\x00-\x1f]*)"[ ]*\](?:\.([A-Za-z$][A-Za-z0-9_$-]*))?$`)

func fastValuePath(path string) (Path, bool) {
	m := simpleValuePath.FindStringSubmatch(path)
	if m == nil || strings.ContainsRune(m[5], utf8.RuneError) {
		return Path{}, false
	}
	var p Path
	if m[1] != "" {
		uri := m[1]
		p.Attr.URIPrefix = &uri
	}
	p.Attr.AttributeName = m[2]
	p.Filter = &filter.AttributeExpression{AttributePath: filter.AttributePath{AttributeName: m[3]},
		Operator: filter.CompareOperator(strings.ToLower(m[4])), CompareValue: m[5]}
	p.Sub = m[6]
	return p, true
}

// plainValues turns the comparison values of e into what they say: the parser leaves
// escapes in strings ("a\"b") and numbers as json.Number; a PATCH compares them with
// stored values in memory, as Go strings and float64s.
func plainValues(e filter.Expression) error {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if err := plainValues(x.Left); err != nil {
			return err
		}
		return plainValues(x.Right)
	case *filter.NotExpression:
		return plainValues(x.Expression)
	case *filter.AttributeExpression:
		v, err := value(x.CompareValue)
		if err != nil {
			return err
		}
		if n, ok := v.(json.Number); ok {
			f, err := n.Float64()
			if err != nil {
				return invalid("number out of range: %s", shown(n.String()))
			}
			v = f
		}
		x.CompareValue = v
	}
	return nil
}
