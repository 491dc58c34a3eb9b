package filtersql

import (
	"strings"
	"testing"

	filter "github.com/scim2/filter-parser/v2"
)

// TestParsePathFastPath checks that the fast path for simple PATCH paths agrees with the
// general parser.
func TestParsePathFastPath(t *testing.T) {
	for _, p := range []string{"active", "name.givenName", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
		"$ref", "members", "displayName"} {
		if simplePath.FindStringSubmatch(p) == nil {
			t.Errorf("%q: not taken by the fast path", p)
			continue
		}
		fast, _ := ParsePath(p)
		slow, err := filter.ParsePath([]byte(p))
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if fast.Attr.String() != slow.AttributePath.String() || fast.Attr.URI() != slow.AttributePath.URI() ||
			fast.Attr.AttributeName != slow.AttributePath.AttributeName ||
			fast.Attr.SubAttributeName() != slow.AttributePath.SubAttributeName() {
			t.Errorf("%q: fast %#v, general %#v", p, fast.Attr, slow.AttributePath)
		}
	}
}

// TestParsePath checks value paths and the limits a path shares with a filter.
func TestParsePath(t *testing.T) {
	ok := map[string]string{ // path -> attribute, sub-attribute after the brackets
		`emails[type eq "work"].value`:                                   "emails value",
		`emails[type eq "work" and value co "@"]`:                        "emails ",
		`members[value sw "x"]`:                                          "members ",
		`emails[(type eq "work") or not (primary eq true)].display`:      "emails display",
		`urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "x"]`: "emails ",
	}
	for p, want := range ok {
		got, err := ParsePath(p)
		if err != nil {
			t.Errorf("%q: %v", p, err)
			continue
		}
		if s := got.Attr.AttributeName + " " + got.Sub; s != want || got.Filter == nil {
			t.Errorf("%q: %q (filter %v), want %q", p, s, got.Filter, want)
		}
	}
	deep := "emails[" + strings.Repeat("(", MaxDepth) + `type eq "x"` + strings.Repeat(")", MaxDepth) + "]"
	many := "emails[" + strings.Repeat(`type eq "x" or `, MaxComparisons) + `type eq "y"]`
	long := `emails[value eq "` + strings.Repeat("a", MaxLength) + `"]`
	for _, p := range []string{deep, many, long, `emails[type eq`, `emails[type eq "x"] or name pr`,
		`emails[type eq "x"][value eq "y"]`, `emails[type[value eq "x"] pr]`, `name.givenName[value eq "x"]`, ``, `a b`} {
		if _, err := ParsePath(p); err == nil {
			t.Errorf("%.60q: no error", p)
		}
	}
}

// TestParsePathFastValuePath checks that the fast path for one-comparison value paths
// agrees with the general one.
func TestParsePathFastValuePath(t *testing.T) {
	for _, p := range []string{`emails[type eq "work"].value`, `members[value SW "00-1"]`, `emails[type eq "work"]`,
		`urn:ietf:params:scim:schemas:core:2.0:User:emails[ value co "@x" ].display`, `addresses[type eq "a b"]`} {
		fast, ok := fastValuePath(p)
		if !ok {
			t.Errorf("%q: not taken by the fast path", p)
			continue
		}
		src := p
		if !strings.HasSuffix(p, "]") {
			src += " pr"
		}
		parsed, err := parse(src)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		slow := parsed.vps[0]
		fe, se := fast.Filter.(*filter.AttributeExpression), slow.filter.(*filter.AttributeExpression)
		if fast.Attr.String() != slow.path.String() || fe.AttributePath.String() != se.AttributePath.String() ||
			!strings.EqualFold(string(fe.Operator), string(se.Operator)) || fe.CompareValue != se.CompareValue {
			t.Errorf("%q: fast %v %v, general %v %v", p, fast.Attr, fe, slow.path, se)
		}
	}
}

// TestQuoteBare checks which words after "attribute operator" are read as strings.
func TestQuoteBare(t *testing.T) {
	for in, want := range map[string]string{
		`userName sw O`:                        `userName sw "O"`,
		`name.familyName eq Employee`:          `name.familyName eq "Employee"`,
		`userName eq "x"`:                      `userName eq "x"`,
		`active eq true and title pr`:          `active eq true and title pr`,
		`x gt 12.5 or (y eq abc)`:              `x gt 12.5 or (y eq "abc")`,
		`emails[type eq work].value eq a@b`:    `emails[type eq "work"].value eq "a@b"`,
		`a eq "q\"b" and b eq c\d`:             `a eq "q\"b" and b eq "c\\d"`,
		`not (a eq b) or c eq "d" and e eq ff`: `not (a eq "b") or c eq "d" and e eq "ff"`,
		`a eq and`:                             `a eq and`,
	} {
		if got := quoteBare(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestParsePathValues checks that comparison values come out unescaped.
func TestParsePathValues(t *testing.T) {
	p, err := ParsePath(`emails[value eq "a\"b\u00e5" or display eq 2]`)
	if err != nil {
		t.Fatal(err)
	}
	l := p.Filter.(*filter.LogicalExpression)
	if v := l.Left.(*filter.AttributeExpression).CompareValue; v != "a\"bå" {
		t.Errorf("string value %#v", v)
	}
	if v := l.Right.(*filter.AttributeExpression).CompareValue; v != 2.0 {
		t.Errorf("number value %#v", v)
	}
}
