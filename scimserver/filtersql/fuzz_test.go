package filtersql

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzSeeds are extra seeds beyond the filters of the other tests: odd spacing, escapes,
// keywords as names, and inputs that once crashed or misbehaved.
var fuzzSeeds = []string{
	`userName sw O and name.familyName eq Employee`,
	`emails[type eq work].value eq a\\b`,
	`not(userName eq "x")`,
	`userName eq "x" and(title pr)`,
	`emails[type eq "work" or type eq "home" and primary eq true]`,
	`emails[type eq "work"].value`,
	`emails[type eq "work"].`,
	`emails[type eq "work"].value.x eq "y"`,
	`emails[not(type eq "work")].value co "a"`,
	`members.$ref eq "x"`,
	`members[$ref eq "x"]`,
	`a[b pr]`,
	`a[b pr]a[b pr]`,
	`emails[value pr]emails[value pr]`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "u3"]`,
	`userName eq "\ud83d\ude00"`,
	`userName eq "\ud83d"`,
	`userName eq "\u0000"`,
	`userName eq "\/\b\f\n\r\t"`,
	"userName eq \"\xff\xfe\"",
	"\xff eq \"x\"",
	`userName eq 00`,
	`userName eq -0`,
	`loginCount eq 9223372036854775808`,
	`loginCount eq -9223372036854775809`,
	`loginCount eq 1.0e-400`,
	`not (not (not (not (userName pr))))`,
	`and eq "x"`,
	`or pr`,
	`not pr`,
	`pr pr`,
	`eq eq "x"`,
	`userName pr and`,
	`(`,
	`)`,
	`"`,
	`[`,
	`]`,
	`$`,
	`.`,
	`:`,
	`"\`,
	`userName eq "x"]`,
	`emails[`,
	`emails[type eq "x"]]`,
	`emails[type eq "]"]`,
	`emails[type eq "["]`,
	`userName eq "(" or displayName eq ")"`,
	`name.givenName eq "x" or name.familyName eq "y"`,
	`meta.created gt "9999-12-31T23:59:59.999999999Z"`,
	`meta.created gt "0000-01-01T00:00:00Z"`,
	`hiredAt lt "2024-02-30T00:00:00Z"`,
	`userName sw "\udbff\udfff"`,
	`userName sw "\u00ff"`,
	// Slow shapes for the parser and for locating errors in nested parentheses.
	`((((((((((((((((((((((((((((())))))))(((0000))))))))))))))))(((())))))))))))`,
	`(00000000000000000000000000000000)`,
	`A eq 0x00000`,
	strings.Repeat("(a pr and ", 31) + "x eq" + strings.Repeat(")", 31),
	strings.Repeat("not (", 31) + "a eq" + strings.Repeat(")", 31),
	strings.Repeat(`emails[value pr] or `, 99) + `emails[value eq]`,
	// Found by fuzzing: a "*" in an error detail that the client wrote.
	`*"00"`,
	// Quadratic in the parser before the pre-pass escaped U+FFFD.
	`active eq "Fa` + strings.Repeat("\x98", 200) + `"`,
	`userName eq "` + strings.Repeat("\uFFFD", 300) + `"`,
}

// sqlVocabulary is everything Translate may write around the schema's expressions.
var (
	sqlToken      = regexp.MustCompile(`'[^']*'|[A-Za-z_]+|[0-9]+|<>|<=|>=|\S`)
	sqlVocabulary = map[string]bool{
		"EXISTS": true, "SELECT": true, "FROM": true, "WHERE": true, "AND": true, "OR": true,
		"NOT": true, "IS": true, "NULL": true, "IN": true, "instr": true, "substr": true,
		"length": true, "golower": true, "strftime": true, "upper": true, "X": true,
		"1": true, "0": true, "(": true, ")": true, ",": true, "?": true, "-": true,
		"=": true, "<>": true, "<": true, ">": true, "<=": true, ">=": true,
		"''": true, "'{}'": true, "'[]'": true, "'%Y-%m-%dT%H:%M:%f'": true,
	}
)

// checkVocabulary fails when the SQL has anything but the schema's expressions and
// Translate's own words: no value from the filter can be in it.
func checkVocabulary(t *testing.T, s *Schema, filter, sql string) {
	var exprs []string
	for _, c := range s.Attrs {
		exprs = append(exprs, c.Expr)
	}
	for _, m := range s.Multis {
		exprs = append(exprs, m.From, m.Where)
		for _, c := range m.Sub {
			exprs = append(exprs, c.Expr)
		}
	}
	// Longest first, so an expression inside another does not break it up.
	slices.SortFunc(exprs, func(a, b string) int { return len(b) - len(a) })
	rest := sql
	for _, e := range exprs {
		if e != "" {
			rest = strings.ReplaceAll(rest, e, " X ")
		}
	}
	for _, tok := range sqlToken.FindAllString(rest, -1) {
		if !sqlVocabulary[tok] {
			t.Fatalf("Translate(%q): unexpected %q in SQL: %s", filter, tok, sql)
		}
	}
}

func FuzzTranslate(f *testing.F) {
	for _, c := range userCases {
		f.Add(c.filter)
	}
	for _, c := range groupCases {
		f.Add(c.filter)
	}
	for _, c := range errorCases {
		f.Add(c.filter)
	}
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	conn := openTestDB(f, f.TempDir())
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, filter string) {
		for _, s := range []*Schema{userSchema, groupSchema} {
			w, err := Translate(filter, s)
			if err != nil {
				if !errors.Is(err, ErrInvalidFilter) {
					t.Fatalf("Translate(%q): %v does not wrap ErrInvalidFilter", filter, err)
				}
				var fe *Error
				if !errors.As(err, &fe) {
					t.Fatalf("Translate(%q): %T is not an *Error", filter, err)
				}
				checkDetail(t, filter, fe.Detail)
				continue
			}
			if n := strings.Count(w.SQL, "?"); n != len(w.Args) {
				t.Fatalf("Translate(%q): %d placeholders, %d args: %s", filter, n, len(w.Args), w.SQL)
			}
			if w.SQL == "" && strings.Trim(filter, " \t\r\n") != "" {
				t.Fatalf("Translate(%q): empty SQL for a non-blank filter", filter)
			}
			checkVocabulary(t, s, filter, w.SQL)
			if w.SQL == "" {
				continue
			}
			// SQLite must accept the SQL, and run it.
			rows, err := conn.QueryContext(ctx, "EXPLAIN SELECT 1 FROM "+from(s)+" WHERE "+w.SQL, w.Args...)
			if err != nil {
				t.Fatalf("Translate(%q): SQLite rejects %s %#v: %v", filter, w.SQL, w.Args, err)
			}
			rows.Close()
			if _, err := matching(ctx, conn, s, w); err != nil {
				t.Fatalf("Translate(%q): %s %#v: %v", filter, w.SQL, w.Args, err)
			}
		}
	})
}
