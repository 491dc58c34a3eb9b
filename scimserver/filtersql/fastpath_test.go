package filtersql

import (
	"reflect"
	"strings"
	"testing"
)

// TestFastPathAgrees checks that the fast path for attr eq "value" yields exactly what
// the general parser yields, and declines what it should not handle.
func TestFastPathAgrees(t *testing.T) {
	s := userSchema
	for _, f := range []string{
		`userName eq "bjensen@example.com"`,
		`userName EQ "x"`,
		` externalId eq "00u1"  `,
		`name.familyName eq "Jensen"`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`,
		`emails.value eq "a@b"`,
		`userName eq ""`,
		`userName eq "ÅSA@x"`,
	} {
		if fastParse(f) == nil {
			t.Errorf("%q: fast path declined", f)
			continue
		}
		fast, ferr := Translate(f, s)
		p, err := parse(f)
		if err != nil {
			t.Fatalf("%q: %v", f, err)
		}
		tr := translator{s: s, vps: p.vps, urn: strings.ToLower(s.URN)}
		slow, serr := tr.cond(p.root, scope{}, false)
		if (ferr == nil) != (serr == nil) {
			t.Errorf("%q: fast error %v, general error %v", f, ferr, serr)
			continue
		}
		if ferr == nil && (fast.SQL != slow.sql || !reflect.DeepEqual(fast.Args, slow.args)) {
			t.Errorf("%q:\nfast    %s %v\ngeneral %s %v", f, fast.SQL, fast.Args, slow.sql, slow.args)
		}
	}
	for _, f := range []string{`userName eq "a\"b"`, `userName eq "a" and active eq true`, `userName co "a"`, `userName eq 1`, `emails[type eq "work"] eq "x"`, `a..b eq "x"`} {
		if fastParse(f) != nil {
			t.Errorf("%q: fast path should decline", f)
		}
	}
}
