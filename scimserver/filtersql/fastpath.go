package filtersql

import (
	"regexp"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// simpleEq matches the filter nearly every provisioning request carries, attr eq "value"
// (Okta's and Entra's lookups by userName, externalId or displayName), when the value has
// no escapes. Parsing it with the general grammar costs more than the whole database
// lookup it leads to, so it is recognised here and handed to the same translator.
var simpleEq = regexp.MustCompile(`^[ \t]*([A-Za-z][A-Za-z0-9_:.$-]*)[ \t]+(?i:eq)[ \t]+"([^"\\\x00-\x1f]*)"[ \t]*$`)

// fastParse returns the expression for a simple eq filter, or nil to take the general path.
func fastParse(f string) filter.Expression {
	m := simpleEq.FindStringSubmatch(f)
	if m == nil {
		return nil
	}
	name := m[1]
	var path filter.AttributePath
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		uri := name[:i]
		path.URIPrefix = &uri
		name = name[i+1:]
	}
	attr, sub, dotted := strings.Cut(name, ".")
	if attr == "" || (dotted && (sub == "" || strings.Contains(sub, "."))) {
		return nil
	}
	path.AttributeName = attr
	if dotted {
		path.SubAttribute = &sub
	}
	return &filter.AttributeExpression{AttributePath: path, Operator: filter.EQ, CompareValue: m[2]}
}
