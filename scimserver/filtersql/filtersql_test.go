package filtersql

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	coreUser = "urn:ietf:params:scim:schemas:core:2.0:User"
	dept     = entURN + ":department"
)

type matchCase struct {
	filter string
	want   string // space-separated ids, in id order; "" for none
}

var userCases = []matchCase{
	// userName: a Folded column, so case-insensitive with Unicode case.
	{`userName eq "alice@example.com"`, "u1"},
	{`userName eq "ALICE@Example.COM"`, "u1"},
	{`userName eq "åsa@x.se"`, "u2"},
	{`userName eq "ÅSA@X.SE"`, "u2"},
	{`userName eq "asa@x.se"`, ""},
	{`USERNAME EQ "bob"`, "u3"},
	{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob"`, "u3"},
	{`URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:USERNAME eq "BOB"`, "u3"},
	{`userName sw "ALICE"`, "u1"},
	{`userName sw "c"`, "u4"},
	{`userName sw "Å"`, "u2"},
	{`userName sw ""`, "u1 u2 u3 u4"},
	{`userName co "@EXAMPLE"`, "u1 u4"},
	{`userName ew ".COM"`, "u1 u4"},
	{`userName gt "b"`, "u2 u3 u4"},
	{`userName le "bob"`, "u1 u3"},
	{`userName ne "bob"`, "u1 u2 u4"},
	{`userName eq "a b"`, ""},

	// externalId: caseExact, absent for u3.
	{`externalId eq "EXT-1"`, "u1"},
	{`externalId eq "ext-1"`, "u2"},
	{`externalId sw "EXT"`, "u1 u4"},
	{`externalId ne "EXT-1"`, "u2 u3 u4"},
	{`externalId pr`, "u1 u2 u4"},
	{`not (externalId pr)`, "u3"},
	{`externalId eq null`, "u3"},
	{`externalId ne null`, "u1 u2 u4"},
	{`not (externalId eq "EXT-1")`, "u2 u3 u4"},
	{`not (externalId sw "EXT")`, "u2 u3"},

	// displayName: case-insensitive with golower.
	{`displayName co "LIDD"`, "u1"},
	{`displayName sw "åsa"`, "u2"},
	{`displayName sw "\u00e5sa"`, "u2"},
	{`displayName sw "\u00C5SA"`, "u2"},
	{`displayName ew "BERG"`, "u2"},
	{`displayName ew "Öberg"`, "u2"},
	{`displayName ew ""`, "u1 u2 u3 u4"},
	{`displayName eq "carol \"cj\" jones"`, "u4"},
	{`displayName co "\"CJ\""`, "u4"},
	{`displayName eq "Bob"`, "u3"},
	{`not (displayName co "o")`, "u1 u2"}, // "ö" is not "o"

	// Booleans, including Entra's strings.
	{`active eq true`, "u1 u3 u4"},
	{`active eq TRUE`, "u1 u3 u4"},
	{`active eq "False"`, "u2"},
	{`active eq "TRUE"`, "u1 u3 u4"},
	{`active ne false`, "u1 u3 u4"},
	{`active pr`, "u1 u2 u3 u4"},

	// Multi-valued emails.
	{`emails[type eq "work"].value eq "asa@work.example.com"`, "u2"},
	{`emails[type eq "work"].value eq "alice@home.org"`, ""},
	{`emails[type eq "work" and value co "@example.com"]`, "u1"},
	{`emails[type eq "work" and value co "example.com" and primary eq true]`, "u1"},
	{`emails[type eq "home" or primary eq true]`, "u1"},
	{`emails[(type eq "home")]`, "u1"},
	{`emails[ type eq "work" ]`, "u1 u2"},
	{`emails [type eq "work"]`, "u1 u2"},
	{`emails[not (type eq "work")]`, "u1"},
	{`emails[primary eq "True"]`, "u1"},
	{`not (emails[type eq "work"])`, "u3 u4"},
	{`emails.value co "home.org"`, "u1"},
	{`emails.value eq "ALICE@EXAMPLE.COM"`, "u1"},
	{`emails co "work.example"`, "u2"},
	{`emails eq "alice@home.org"`, "u1"},
	{`emails pr`, "u1 u2"},
	{`not (emails pr)`, "u3 u4"},
	{`emails eq null`, "u3 u4"},
	{`emails.value pr`, "u1 u2"},
	{`emails.value ne "alice@example.com"`, "u1 u2 u3 u4"},
	{`emails.type ne "work"`, "u1 u3 u4"},
	{`emails[type eq "work"].value ne "asa@work.example.com"`, "u1 u3 u4"},
	{`not (emails.type ne "work")`, "u2"},
	{`urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "home"]`, "u1"},
	{`userName eq "bob" or emails[type eq "home"]`, "u1 u3"},
	{`emails[type eq "work"] and emails[type eq "home"]`, "u1"},
	{`emails[type eq "work"].value sw "alice" or emails[type eq "work"].value sw "asa"`, "u1 u2"},
	{"emails[type eq \"work\"]\n\tand active eq false", "u2"},

	// groups (a multi-valued attribute over a join).
	{`groups.value eq "g1"`, "u1 u3"},
	{`groups eq "g1"`, "u1 u3"},
	{`groups[display eq "ADMINS"]`, "u1 u3"},
	{`groups pr`, "u1 u2 u3 u4"},
	{`not (groups eq "g1")`, "u2 u4"},

	// Sub-attributes and complex attributes.
	{`name.familyName sw "lid"`, "u1 u4"},
	{`name.givenName eq "åsa"`, "u2"},
	{`name pr`, "u1 u2 u3"},
	{`name[givenName eq "bob"]`, "u3"},
	{`name[givenName eq "bob" or familyName eq "öberg"]`, "u2 u3"},
	{`not (name[givenName eq "bob"])`, "u1 u2 u4"},
	{`name[givenName sw "a"].familyName eq "liddell"`, "u1"},

	// The enterprise extension, under its URN.
	{dept + ` eq "engineering"`, "u1 u3"},
	{strings.ToUpper(dept) + ` eq "SALES"`, "u2"},
	{dept + ` ne "engineering"`, "u2 u4"},
	{dept + ` pr`, "u1 u2 u3"},
	{entURN + `:manager.value eq "u3"`, "u1"},
	{entURN + `:manager.value eq "U3"`, ""},
	{entURN + `:manager pr`, "u1"},
	{entURN + `:employeeNumber eq "100"`, "u1"},

	// dateTime in milliseconds.
	{`meta.created gt "2024-01-01T00:00:00Z"`, "u2 u3 u4"},
	{`meta.created lt "2024-03-01T01:00:00+01:00"`, "u1"},
	{`meta.created ge "2024-03-01T01:00:00+01:00"`, "u2 u3 u4"},
	{`meta.created eq "2024-03-01T00:00:00.000Z"`, "u2"},
	{`meta.created eq "2024-03-01t00:00:00z"`, "u2"},
	{`meta.created eq "2024-06-15T12:30:00.25Z"`, "u3"},
	{`meta.created gt "2024-03-01T00:00:00.0005Z"`, "u3 u4"},
	{`meta.created lt "2024-03-01T00:00:00.0005Z"`, "u1 u2"},
	{`meta.created eq "2024-03-01T00:00:00.0005Z"`, ""},
	{`meta.created ne "2024-03-01T00:00:00Z"`, "u1 u3 u4"},
	{`meta.lastModified le "2023-06-01T08:00:00Z"`, "u1"},

	// dateTime as RFC 3339 text in the document.
	{`hiredAt gt "2021-06-01T10:30:00Z"`, ""},
	{`hiredAt lt "2021-06-01T10:30:00Z"`, "u1 u2"},
	{`hiredAt eq "2021-06-01T10:00:00Z"`, "u2"},
	{`hiredAt eq "2021-06-01T12:00:00.000+02:00"`, "u2"},
	{`hiredAt ge "2021-06-01T10:00:00.0001Z"`, ""},
	{`hiredAt ne "2021-06-01T10:00:00Z"`, "u1 u3 u4"},
	{`hiredAt pr`, "u1 u2"},

	// Numbers.
	{`loginCount gt 4`, "u1 u3"},
	{`loginCount le 0`, "u2"},
	{`loginCount eq 12`, "u3"},
	{`loginCount lt 5.5`, "u1 u2"},
	{`loginCount ne 5`, "u2 u3 u4"},
	{`score ge 4.5`, "u1 u2"},
	{`score lt 4`, "u3"},
	{`score eq 5`, "u2"},
	{`score gt -1e3`, "u1 u2 u3"},

	// title: "" for u2, absent for u4.
	{`title pr`, "u1 u3"},
	{`title eq ""`, "u2"},
	{`title ne "Engineer"`, "u2 u3 u4"},
	{`not (title eq "Engineer")`, "u2 u3 u4"},
	{`not (title co "e")`, "u2 u4"},
	{`not (title pr)`, "u2 u4"},
	{`title eq null`, "u2 u4"},

	// Binary.
	{`certificate eq "QUJD"`, "u1"},
	{`certificate eq "qujd"`, ""},

	// Logic: precedence, parentheses, not, case of keywords, white space.
	{`userName eq "bob" or userName eq "carol@example.com" and active eq false`, "u3"},
	{`(userName eq "bob" or userName eq "carol@example.com") and active eq true`, "u3 u4"},
	{`userName eq "bob" OR userName eq "carol@example.com" AND active EQ false`, "u3"},
	{`userName Eq "bob" Or active eQ False`, "u2 u3"},
	{`not (userName eq "bob" or active eq false)`, "u1 u4"},
	{`NOT(userName eq "bob")`, "u1 u2 u4"},
	{`not (not (userName eq "bob"))`, "u3"},
	{`((userName eq "bob"))`, "u3"},
	{`( userName eq "bob" )`, "u3"},
	{`not (title eq "Engineer" and loginCount gt 1)`, "u2 u3 u4"},
	{`title eq "x" or not (title eq "x")`, "u1 u2 u3 u4"},
	{`active eq true and emails pr and not (emails[type eq "home"])`, ""},
	{`active eq true and (emails pr or externalId eq "EXT-4")`, "u1 u4"},
	{"  userName eq \"bob\"  ", "u3"},
	{"userName eq \"bob\"\n\tor userName eq \"alice@example.com\"", "u1 u3"},
	{`userName  eq   "bob"`, "u3"},
	{`id eq "u2"`, "u2"},
	{``, "u1 u2 u3 u4"},
	{`   `, "u1 u2 u3 u4"},
}

var groupCases = []matchCase{
	{`members[value eq "u2"]`, "g2"},
	{`id eq "g1" and members[value eq "u3"]`, "g1"}, // Entra's membership check
	{`id eq "g1" and members[value eq "u2"]`, ""},
	{`members[value eq "u1" and display co "alice"]`, "g1 g2"},
	{`members.value eq "u3"`, "g1 g2"},
	{`members eq "u1"`, "g1 g2"},
	{`members pr`, "g1 g2"},
	{`not (members pr)`, "g3"},
	{`members[display co "BOB"]`, "g1 g2"},
	{`members[value eq "u2"].display sw "åsa"`, "g2"},
	{`members ne "u1"`, "g1 g2 g3"}, // some member is not u1, or none is
	{`displayName eq "ADMINS"`, "g1"},
	{`displayName sw "e"`, "g2 g3"},
	{`urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "empty"`, "g3"},
	{`externalId pr`, ""},
}

func runCases(t *testing.T, s *Schema, cases []matchCase) {
	conn := openTestDB(t, t.TempDir())
	ctx := context.Background()
	for _, c := range cases {
		w, err := Translate(c.filter, s)
		if err != nil {
			t.Errorf("Translate(%q): %v", c.filter, err)
			continue
		}
		if n := strings.Count(w.SQL, "?"); n != len(w.Args) {
			t.Errorf("Translate(%q): %d placeholders, %d args", c.filter, n, len(w.Args))
		}
		got, err := matching(ctx, conn, s, w)
		if err != nil {
			t.Errorf("Translate(%q): query: %v\nSQL: %s\nargs: %v", c.filter, err, w.SQL, w.Args)
			continue
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%s\n got: %q\nwant: %q\n SQL: %s\nargs: %#v", c.filter, g, c.want, w.SQL, w.Args)
		}
	}
}

func TestUsers(t *testing.T)  { runCases(t, userSchema, userCases) }
func TestGroups(t *testing.T) { runCases(t, groupSchema, groupCases) }

var errorCases = []struct {
	filter string
	detail string // a part of the error's detail
}{
	{`nickName eq "x"`, "unsupported attribute in filter: nickName"},
	{`userName eq "x" or nickName eq "y"`, "unsupported attribute in filter: nickName"},
	{`nickName pr or userName pr`, "nickName"},
	{`not (nickName pr)`, "nickName"},
	{`name.middleName eq "x"`, "unsupported attribute in filter: name.middleName"},
	{`urn:ietf:params:scim:schemas:core:2.0:Group:userName eq "x"`, "unsupported attribute"},
	{`urn:x:department eq "x"`, "unsupported attribute in filter: urn:x:department"},
	{`emails.foo eq "x"`, "unsupported attribute in filter: emails.foo"},
	{`emails.fooBar eq "x"`, "unsupported attribute in filter: emails.fooBar"},
	{`emails[type eq "work"].fooBar eq "x"`, "unsupported attribute in filter: emails.fooBar"},
	{`emails[foo eq "x"]`, "unsupported attribute in filter: emails.foo"},
	{`emails[type.x eq "x"]`, "unsupported attribute in filter: emails.type.x"},
	{`emails[type eq "work"].foo eq "x"`, "unsupported attribute in filter: emails.foo"},
	{`phoneNumbers[type eq "work"]`, "unsupported attribute in filter: phoneNumbers"},
	{`nickName[type eq "work"]`, "unsupported attribute in filter: nickName"},
	{`name[middleName eq "x"]`, "unsupported attribute in filter: name.middleName"},
	{`$ref eq "x"`, "unsupported attribute in filter: $ref"},
	{`$v0 pr`, "unsupported attribute in filter: $v0"},
	{`emails[type eq "work"] and $v0 pr`, "unsupported attribute"},

	{`userName eq`, "syntax error at position 1"},
	{`userName equals "x"`, "syntax error"},
	{`userName eq "x" garbage`, `syntax error at position 17 near "garbage"`},
	{`userName eq "x" and`, `syntax error: unexpected end of filter after "and"`},
	{`userName eq "x" and (title eqq "y")`, `syntax error at position 22 near "title eqq`},
	{`not (userName eq "x" and title eqq "y")`, `syntax error at position 26 near "title eqq`},
	{`emails[type eq "work" and value coo "x"]`, `syntax error at position 27 near "value coo`},
	{`userName eq "abc`, "missing closing quote for the string at position 13"},
	{`userName eq "a\qb"`, "invalid escape in string at position 15"},
	{`userName eq "a\u00zz"`, "invalid escape"},
	{"userName eq \"a\tb\"", "control character in string"},
	{`(userName eq "x"`, "missing ')' for the '(' at position 1"},
	{`userName eq "x")`, "unexpected ')' at position 16"},
	{`emails[type eq "work"`, "missing ']' for the '[' at position 7"},
	{`emails]`, "unexpected ']' at position 7"},
	{`emails[type[value eq "x"]]`, "value filters cannot be nested"},
	{`emails[]`, "empty value filter"},
	{`[type eq "x"]`, "missing attribute before '['"},
	{`emails[(type eq "x"]`, "missing ')'"},
	{`(emails[type eq "x")]`, "unexpected ')'"},
	{`emails[type eq "work"] eq "x"`, "syntax error"},
	{`emails[type eq "work"] pr`, "syntax error"},
	{`emails.value[type eq "work"]`, "must follow a multi-valued attribute"},
	{`not userName eq "x"`, "syntax error"},
	{`userName eq 'x'`, "syntax error"},
	{`userName eq "x" and and title pr`, "syntax error"},
	{`()`, "syntax error"},

	{`active co "t"`, "operator co is not supported for boolean attribute active"},
	{`active gt true`, "operator gt is not supported for boolean attribute active"},
	{`active eq "yes"`, "active needs a boolean value"},
	{`active eq 1`, "active needs a boolean value"},
	{`meta.created gt "yesterday"`, `invalid dateTime "yesterday"`},
	{`meta.created gt "2024-01-01"`, "invalid dateTime"},
	{`meta.created gt 5`, "needs a dateTime value"},
	{`meta.created sw "2024"`, "operator sw is not supported for dateTime"},
	{`loginCount gt "5"`, "loginCount needs a number"},
	{`loginCount co 5`, "operator co is not supported for integer"},
	{`loginCount gt 1e999`, "out of range"},
	{`userName eq 5`, "userName needs a string value"},
	{`userName eq true`, "userName needs a string value"},
	{`userName co null`, "null can only be compared with eq or ne"},
	{`name eq "x"`, "operator eq is not supported for complex attribute name"},
	{`certificate co "x"`, "operator co is not supported for binary"},
	{`emails[primary co "x"]`, "operator co is not supported for boolean attribute emails.primary"},

	// Positions are 1-based and point at what is wrong, as an admin reading Okta's error
	// would count them; long tails are cut at 24 characters.
	{`userName eq "\u00e`, "invalid escape in string at position 14"},
	{`userName eq "ab\u12"`, "invalid escape in string at position 16"},
	{`userName eq "x\`, "missing closing quote for the string at position 13"},
	{"userName eq \"a\x01b\"", "control character in string at position 15 (escape it)"},
	{`userName eq "x" and`, `syntax error: unexpected end of filter after "and"`},
	{`userName eq "x" or `, `syntax error: unexpected end of filter after "or"`},
	{`userName eq "x" and title eqq "a very long value indeed"`, `syntax error at position 21 near "title eqq \"a very long v…"`},
	{`userName eq "x" and not (title eqq "y")`, `syntax error at position 26 near "title eqq \"y\")"`},
	{`emails[type eq "x" and (value pr]`, "missing ')' for the '(' at position 24"},
	{`emails[type eq "x" and emails[value pr]]`, "unexpected '[' at position 30: value filters cannot be nested"},
	{`(userName pr))`, "unexpected ')' at position 14"},
	{`emails[type eq "x"]]`, "unexpected ']' at position 20"},
	// A value filter at the very start: the bracket at position 0 is still a bracket.
	{`[type eq "x"]`, "missing attribute before '[' at position 1"},
	{`[type eq "x"`, "missing ']' for the '[' at position 1"},
	{`[type eq "x"[`, "unexpected '[' at position 13: value filters cannot be nested"},
	{`[$x eq "y"]`, "missing attribute before '[' at position 1"},
	{`emails[ ]`, "empty value filter at position 7"},
	// Every letter and digit belongs to the attribute before a bracket, the last ones of
	// each range too; and "$" after a dot is a sub-attribute the schema judges.
	{`zA9Z[value eq "x"]`, "unsupported attribute in filter: zA9Z"},
	{`members.$ref eq "x"`, "unsupported attribute in filter: members.$ref"},
	{`members.$ref eq "x" and userName pr`, "unsupported attribute in filter: members.$ref"}, // past the fast path

	{strings.Repeat(" ", MaxLength) + `userName pr`, "filter too complex: longer than 4096 bytes"},
	{strings.Repeat("(", 40) + `userName pr` + strings.Repeat(")", 40), "filter too complex: nested deeper than 32"},
	{strings.Repeat(`userName pr or `, MaxComparisons) + `userName pr`, "filter too complex: more than 100 comparisons"},
	{strings.Repeat(`emails[value pr] or `, MaxComparisons) + `emails pr`, "filter too complex"},
}

func TestErrors(t *testing.T) {
	for _, c := range errorCases {
		w, err := Translate(c.filter, userSchema)
		if err == nil {
			t.Errorf("Translate(%q) = %q, want an error", c.filter, w.SQL)
			continue
		}
		if !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("Translate(%q): %v does not wrap ErrInvalidFilter", c.filter, err)
		}
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Translate(%q): %T is not an *Error", c.filter, err)
			continue
		}
		if !strings.Contains(fe.Detail, c.detail) {
			t.Errorf("Translate(%q): detail %q, want it to contain %q", c.filter, fe.Detail, c.detail)
		}
		checkDetail(t, c.filter, fe.Detail)
		if w.SQL != "" || w.Args != nil {
			t.Errorf("Translate(%q): error with a non-empty Where", c.filter)
		}
	}
}

// internals are what must not show in a detail, unless the client wrote it: the parser's
// vocabulary, Go types and fmt's complaints.
var internals = regexp.MustCompile(`parse conflict|op\.|int32|func|parser\.|filter\.|internal error|%!|\$v[0-9a-z]`)

func checkDetail(t testing.TB, filter, detail string) {
	t.Helper()
	if detail == "" {
		t.Errorf("Translate(%q): empty detail", filter)
	}
	for _, m := range internals.FindAllString(detail, -1) {
		if !strings.Contains(filter, m) {
			t.Errorf("Translate(%q): unsuitable detail %q", filter, detail)
		}
	}
}

// TestArgsNotInSQL checks that values only travel as arguments.
func TestArgsNotInSQL(t *testing.T) {
	const marker = "zq') OR 1=1 --"
	for _, f := range []string{
		`userName eq "` + marker + `"`,
		`displayName co "` + marker + `"`,
		`displayName sw "` + marker + `"`,
		`externalId sw "` + marker + `"`,
		`title ew "` + marker + `"`,
		`emails[type eq "` + marker + `"].value ne "` + marker + `"`,
		`not (name[givenName gt "` + marker + `"])`,
	} {
		w, err := Translate(f, userSchema)
		if err != nil {
			t.Fatalf("Translate(%q): %v", f, err)
		}
		if strings.Contains(w.SQL, "zq") {
			t.Errorf("Translate(%q): value in SQL: %s", f, w.SQL)
		}
		if !slices.ContainsFunc(w.Args, func(a any) bool { s, _ := a.(string); return strings.Contains(s, "zq") }) {
			t.Errorf("Translate(%q): value not in args %v", f, w.Args)
		}
	}
}

// TestIndexFriendly checks the forms that let SQLite use an index on a Folded column.
func TestIndexFriendly(t *testing.T) {
	for f, want := range map[string]string{
		`userName eq "Bob"`: "u.user_name_norm = ?",
		`userName sw "Bo"`:  "(u.user_name_norm >= ? AND u.user_name_norm < ?)",
	} {
		w, err := Translate(f, userSchema)
		if err != nil {
			t.Fatal(err)
		}
		if w.SQL != want {
			t.Errorf("Translate(%q) = %q, want %q", f, w.SQL, want)
		}
	}
	w, _ := Translate(`userName sw "Bo"`, userSchema)
	if !slices.Equal(w.Args, []any{"bo", "bp"}) {
		t.Errorf("sw args = %#v", w.Args)
	}
}

func TestSuccessor(t *testing.T) {
	for s, want := range map[string]string{
		"a":                     "b",
		"ab":                    "ac",
		"å":                     "æ",
		"a\U0010FFFF":           "b",
		"\uD7FF":                "\uE000",
		"x\U0010FFFF\U0010FFFF": "y",
	} {
		if got, ok := successor(s); !ok || got != want {
			t.Errorf("successor(%q) = %q, %v; want %q", s, got, ok, want)
		}
	}
	if _, ok := successor("\U0010FFFF"); ok {
		t.Errorf("successor(U+10FFFF) exists")
	}
	if _, ok := successor(""); ok {
		t.Errorf("successor(\"\") exists")
	}
}

// TestReplacementCharacter checks U+FFFD and invalid UTF-8 in strings, which the pre-pass
// escapes for the parser, and the positions of errors after them.
func TestReplacementCharacter(t *testing.T) {
	for f, want := range map[string]string{
		"userName eq \"a\xffb\"":   "a\uFFFDb",
		"userName eq \"a\uFFFDb\"": "a\uFFFDb",
		`userName eq "a\uFFFDb"`:   "a\uFFFDb",
		`userName eq "\ufffd"`:     "\uFFFD",
	} {
		w, err := Translate(f, userSchema)
		if err != nil {
			t.Errorf("Translate(%q): %v", f, err)
			continue
		}
		if !slices.Equal(w.Args, []any{want}) {
			t.Errorf("Translate(%q): args %q, want %q", f, w.Args, want)
		}
	}
	_, err := Translate("title eq \"\uFFFD\xff\" and userName eqq \"x\"", userSchema)
	if err == nil || !strings.Contains(err.Error(), "position 19 near") {
		t.Errorf("error after U+FFFD: %v", err)
	}
}

func TestNilSchema(t *testing.T) {
	if _, err := Translate(`userName pr`, nil); err == nil || errors.Is(err, ErrInvalidFilter) {
		t.Errorf("nil schema: %v", err)
	}
}

func BenchmarkTranslate(b *testing.B) {
	for b.Loop() {
		if _, err := Translate(`userName eq "someone@example.com"`, userSchema); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTranslateComplex(b *testing.B) {
	const f = `emails[type eq "work" and value co "@example.com"] and (active eq true or ` +
		`meta.created gt "2024-01-01T00:00:00Z") and not (title eq "x")`
	for b.Loop() {
		if _, err := Translate(f, userSchema); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLimitsAreInclusive: a filter exactly at a limit is translated; one step past it is
// "too complex". The error cases above only show that far past a limit is refused, so a
// limit off by one (refusing the 4096th byte, the 32nd level, the 100th comparison that
// an identity provider may send) would pass them.
func TestLimitsAreInclusive(t *testing.T) {
	nested := func(n int) string {
		return strings.Repeat("(", n) + `userName pr` + strings.Repeat(")", n)
	}
	inBrackets := func(n int) string { // the brackets of a value filter count as a level
		return "emails[" + strings.Repeat("(", n-1) + `type eq "x"` + strings.Repeat(")", n-1) + "]"
	}
	comparisons := func(n int) string {
		return strings.Repeat(`userName pr or `, n-1) + `userName pr`
	}
	valueFilters := func(n int) string {
		return strings.Repeat(`emails[value pr] or `, n-1) + `emails[value pr]`
	}
	padded := func(n int) string {
		f := `userName pr`
		return strings.Repeat(" ", n-len(f)) + f
	}
	for _, c := range []struct {
		name  string
		make  func(int) string
		limit int
	}{
		{"bytes", padded, MaxLength},
		{"parentheses", nested, MaxDepth},
		{"value filter brackets", inBrackets, MaxDepth},
		{"comparisons", comparisons, MaxComparisons},
		// A value filter counts once itself and once for each comparison inside it.
		{"value filters", valueFilters, MaxComparisons / 2},
	} {
		if _, err := Translate(c.make(c.limit), userSchema); err != nil {
			t.Errorf("%s: exactly %d refused: %v", c.name, c.limit, err)
		}
		_, err := Translate(c.make(c.limit+1), userSchema)
		var fe *Error
		if !errors.As(err, &fe) || !strings.Contains(fe.Detail, "filter too complex") {
			t.Errorf("%s: %d (one past the limit) gave %v, want filter too complex", c.name, c.limit+1, err)
		}
	}
}

// Space between an attribute and its bracket (a space, a tab, a line break) is read as
// if it were not there.
func TestSpaceBeforeValueFilter(t *testing.T) {
	want, err := Translate(`emails[type eq "work"]`, userSchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"emails [type eq \"work\"]", "emails\t[type eq \"work\"]", "emails\n[type eq \"work\"]",
		"emails\r[type eq \"work\"]", "emails \t\r\n [type eq \"work\"]"} {
		got, err := Translate(f, userSchema)
		if err != nil || got.SQL != want.SQL || fmt.Sprint(got.Args) != fmt.Sprint(want.Args) {
			t.Errorf("Translate(%q) = %q %v, %v; want %q %v", f, got.SQL, got.Args, err, want.SQL, want.Args)
		}
	}
}

// A value filter counts as a level of nesting, and so does a parenthesis inside it: the
// limit of MaxDepth levels holds, inclusive, whichever of them reaches it.
func TestBracketDepthIsInclusive(t *testing.T) {
	for _, c := range []struct {
		inner string
		pass  int // the most parentheses around it that still pass
	}{{`type eq "work"`, MaxDepth - 1}, {`(type eq "work")`, MaxDepth - 2}} {
		wrap := func(n int) string {
			return strings.Repeat("(", n) + "emails[" + c.inner + "]" + strings.Repeat(")", n)
		}
		if _, err := Translate(wrap(c.pass), userSchema); err != nil {
			t.Errorf("%d parentheses around emails[%s]: %v", c.pass, c.inner, err)
		}
		if _, err := Translate(wrap(c.pass+1), userSchema); err == nil || !strings.Contains(err.Error(), "nested deeper than") {
			t.Errorf("%d parentheses around emails[%s]: %v, want too complex", c.pass+1, c.inner, err)
		}
	}
}
