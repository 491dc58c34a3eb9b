package scimserver

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"scimdesk/internal/teststore"
)

// TestPatchCompileRules: the rules a PATCH is checked against before it reaches the
// write, each seen from the outside. A refused operation answers 400 with its scimType and
// changes nothing (the resource read back is as before); an accepted one takes effect.
func TestPatchCompileRules(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"userName":"rules@example.com","externalId":"ext-1","displayName":"Rules",
			"`+URNEnterprise+`":{"department":"Sales"}}`)
		if r.status != 201 {
			t.Fatalf("create user: %d %s", r.status, r.raw)
		}
		e.vars["u"] = r.json["id"].(string)
		r = e.do("POST", "/Groups", `{"displayName":"Rules Group","members":[{"value":"${u}"}]}`)
		if r.status != 201 {
			t.Fatalf("create group: %d %s", r.status, r.raw)
		}
		e.vars["g"] = r.json["id"].(string)
		unchangedUser := map[string]any{"userName": "rules@example.com", "externalId": "ext-1",
			"<" + URNEnterprise + ">.department": "Sales"}
		unchangedGroup := map[string]any{"displayName": "Rules Group", "members.0.value": e.vars["u"], "members.0.display": "Rules"}

		for _, c := range []struct {
			name, res, op, scimType string
			after                   map[string]any
		}{
			{"a required attribute replaced by an empty string", "/Users/${u}",
				`{"op":"replace","path":"userName","value":""}`, errInvalidValue, unchangedUser},
			{"a required attribute emptied without a path", "/Users/${u}",
				`{"op":"replace","value":{"userName":""}}`, errInvalidValue, unchangedUser},
			// Refused before the write: on a user that does not exist, 400 and not 404.
			{"a required attribute emptied, on nobody", "/Users/nobody",
				`{"op":"replace","path":"userName","value":""}`, errInvalidValue, map[string]any{"status": "404"}},
			{"a group's required name replaced by an empty string", "/Groups/${g}",
				`{"op":"replace","path":"displayName","value":""}`, errInvalidValue, unchangedGroup},
			{"an extension that is not an object, without a path", "/Users/${u}",
				`{"op":"replace","value":{"` + URNEnterprise + `":"Engineering"}}`, errInvalidValue, unchangedUser},
			{"an extension attribute of the wrong type, without a path", "/Users/${u}",
				`{"op":"replace","value":{"` + URNEnterprise + `":{"department":{"name":"Engineering"}}}}`, errInvalidValue, unchangedUser},
			{"a member's display changed", "/Groups/${g}",
				`{"op":"replace","path":"members.display","value":"Someone"}`, errInvalidPath, unchangedGroup},
			{"a filtered member's display changed", "/Groups/${g}",
				`{"op":"replace","path":"members[value eq \"${u}\"].display","value":"Someone"}`, errInvalidPath, unchangedGroup},
		} {
			r := e.do("PATCH", c.res, patchBody(c.op))
			if r.status != 400 || r.json["scimType"] != c.scimType {
				t.Errorf("%s: %d %s, want 400 %s", c.name, r.status, r.raw, c.scimType)
			}
			e.do("GET", c.res, "").expect(t, c.name+", read back", c.after)
		}

		// Accepted: externalId replaced through its path takes the new value, and the
		// filters find the user by it (and no longer by the old one).
		r = e.do("PATCH", "/Users/${u}", patchBody(`{"op":"replace","path":"externalId","value":"ext-2"}`))
		if r.status != 200 {
			t.Fatalf("replace externalId: %d %s", r.status, r.raw)
		}
		r.expect(t, "replace externalId", map[string]any{"externalId": "ext-2"})
		e.do("GET", "/Users/${u}", "").expect(t, "replace externalId, read back", map[string]any{"externalId": "ext-2", "userName": "rules@example.com"})
		e.do("GET", "/Users?filter="+q(`externalId eq "ext-2"`), "").expect(t, "filter on the new externalId", map[string]any{"totalResults": 1})
		e.do("GET", "/Users?filter="+q(`externalId eq "ext-1"`), "").expect(t, "filter on the old externalId", map[string]any{"totalResults": 0})

		// An extension replaced by null through its path is removed; added as null, refused.
		r = e.do("PATCH", "/Users/${u}", patchBody(`{"op":"add","path":"`+URNEnterprise+`","value":null}`))
		if r.status != 400 || r.json["scimType"] != errInvalidValue {
			t.Errorf("add an extension as null: %d %s, want 400 invalidValue", r.status, r.raw)
		}
		r = e.do("PATCH", "/Users/${u}", patchBody(`{"op":"replace","path":"`+URNEnterprise+`","value":null}`))
		if r.status != 200 {
			t.Fatalf("replace an extension by null: %d %s", r.status, r.raw)
		}
		e.do("GET", "/Users/${u}", "").expect(t, "extension replaced by null, read back", map[string]any{"<" + URNEnterprise + ">": "<absent>", "userName": "rules@example.com"})
	})
}

// TestPatchValueRules: how PATCH values are taken. A one-element list for a single-valued
// attribute is its element (Entra sends some values so); more elements are refused. A new
// primary value turns the old one off (RFC 7644 §3.5.2), and a change that sets no primary
// keeps the one there is. A multi-valued attribute may reach maxValues values, not more.
func TestPatchValueRules(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"userName":"values@example.com","displayName":"Values",
			"emails":[{"value":"work@example.com","type":"work","primary":true},{"value":"home@example.com","type":"home"}]}`)
		if r.status != 201 {
			t.Fatalf("create user: %d %s", r.status, r.raw)
		}
		e.vars["u"] = r.json["id"].(string)
		steps := []struct {
			name, op string
			status   int
			expect   map[string]any // read back after the step
		}{
			{"a one-element list for a single value", `{"op":"replace","path":"displayName","value":["Listed"]}`, 200,
				map[string]any{"displayName": "Listed"}},
			{"a two-element list for a single value", `{"op":"replace","path":"displayName","value":["A","B"]}`, 400,
				map[string]any{"displayName": "Listed"}},
			{"a one-element list for externalId", `{"op":"replace","path":"externalId","value":["ext-listed"]}`, 200,
				map[string]any{"externalId": "ext-listed"}},
			{"a two-element list for externalId", `{"op":"replace","path":"externalId","value":["ext-a","ext-b"]}`, 400,
				map[string]any{"externalId": "ext-listed"}},
			{"a one-element list for a sub-attribute", `{"op":"replace","path":"name.givenName","value":["Given"]}`, 200,
				map[string]any{"name.givenName": "Given"}},
			{"a two-element list for a sub-attribute", `{"op":"replace","path":"name.givenName","value":["A","B"]}`, 400,
				map[string]any{"name.givenName": "Given"}},
			{"an email added without primary keeps the primary", `{"op":"add","path":"emails","value":[{"value":"other@example.com","type":"other"}]}`, 200,
				map[string]any{"emails.0.value": "work@example.com", "emails.0.primary": true, "emails.1.primary": "<absent>", "emails.2.value": "other@example.com"}},
			{"a new primary turns the old one off", `{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}`, 200,
				map[string]any{"emails.0.value": "work@example.com", "emails.0.primary": false, "emails.1.value": "home@example.com", "emails.1.primary": true}},
		}
		for _, s := range steps {
			r := e.do("PATCH", "/Users/${u}", patchBody(s.op))
			if r.status != s.status {
				t.Errorf("%s: %d %s, want %d", s.name, r.status, r.raw, s.status)
			}
			e.do("GET", "/Users/${u}", "").expect(t, s.name+", read back", s.expect)
		}

		// maxValues values in all: accepted; one more: refused, and nothing changes.
		emails := func(from, n int) string {
			var b strings.Builder
			for i := range n {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"value":"e%d@example.com","type":"other"}`, from+i)
			}
			return "[" + b.String() + "]"
		}
		last := fmt.Sprintf("emails.%d.value", maxValues-1)
		r = e.do("PATCH", "/Users/${u}", patchBody(`{"op":"add","path":"emails","value":`+emails(0, maxValues-3)+`}`))
		if r.status != 200 {
			t.Fatalf("%d emails in all: %d %s, want 200", maxValues, r.status, truncate(string(r.raw), 300))
		}
		e.do("GET", "/Users/${u}", "").expect(t, "at the limit", map[string]any{last: fmt.Sprintf("e%d@example.com", maxValues-4)})
		r = e.do("PATCH", "/Users/${u}", patchBody(`{"op":"add","path":"emails","value":`+emails(1000, 1)+`}`))
		if r.status != 400 || r.json["scimType"] != errInvalidValue {
			t.Errorf("%d emails in all: %d %s, want 400 invalidValue", maxValues+1, r.status, truncate(string(r.raw), 300))
		}
		e.do("GET", "/Users/${u}", "").expect(t, "over the limit", map[string]any{last: fmt.Sprintf("e%d@example.com", maxValues-4), fmt.Sprintf("emails.%d", maxValues): "<absent>"})
	})
}

// TestPatchReplaceFilteredMember: replace members[value eq "a"] with b takes a out and
// puts b in, and so does a filter on display; nothing else changes.
func TestPatchReplaceFilteredMember(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		for _, name := range []string{"a", "b", "c", "d"} {
			r := e.do("POST", "/Users", `{"userName":"`+name+`@example.com","displayName":"User `+strings.ToUpper(name)+`"}`)
			if r.status != 201 {
				t.Fatalf("create %s: %d %s", name, r.status, r.raw)
			}
			e.vars[name] = r.json["id"].(string)
		}
		r := e.do("POST", "/Groups", `{"displayName":"Swap","members":[{"value":"${a}"},{"value":"${c}"}]}`)
		if r.status != 201 {
			t.Fatalf("create group: %d %s", r.status, r.raw)
		}
		e.vars["g"] = r.json["id"].(string)
		r = e.do("PATCH", "/Groups/${g}", patchBody(`{"op":"replace","path":"members[value eq \"${a}\"]","value":[{"value":"${b}"}]}`))
		if r.status != 200 {
			t.Fatalf("replace a filtered member: %d %s", r.status, r.raw)
		}
		got := map[string]bool{}
		members, _ := e.do("GET", "/Groups/${g}", "").json["members"].([]any)
		for _, m := range members {
			got[m.(map[string]any)["value"].(string)] = true
		}
		if len(got) != 2 || !got[e.vars["b"]] || !got[e.vars["c"]] {
			t.Errorf("members after replacing a by b: %v, want b and c", got)
		}
		// The same through a filter that must look at every member (display): c out, d in.
		r = e.do("PATCH", "/Groups/${g}", patchBody(`{"op":"replace","path":"members[display eq \"User C\"]","value":[{"value":"${d}"}]}`))
		if r.status != 200 {
			t.Fatalf("replace a member found by display: %d %s", r.status, r.raw)
		}
		got = map[string]bool{}
		members, _ = e.do("GET", "/Groups/${g}", "").json["members"].([]any)
		for _, m := range members {
			got[m.(map[string]any)["value"].(string)] = true
		}
		if len(got) != 2 || !got[e.vars["b"]] || !got[e.vars["d"]] {
			t.Errorf("members after replacing c by d: %v, want b and d", got)
		}
		// One out and one in is a change (a new version); b replaced by b is none.
		if etag := r.header.Get("ETag"); etag != `W/"3"` {
			t.Errorf("after replacing c by d: ETag %s, want W/\"3\"", etag)
		}
		r = e.do("PATCH", "/Groups/${g}", patchBody(`{"op":"replace","path":"members[display eq \"User B\"]","value":[{"value":"${b}"}]}`))
		if r.status != 200 || r.header.Get("ETag") != `W/"3"` {
			t.Errorf("b replaced by b: %d ETag %s, want 200 and W/\"3\" (no change)", r.status, r.header.Get("ETag"))
		}
	})
}

// TestPatchRemoveMembersByValueOperators: a member filter on value with an operator other
// than eq and sw (co, ne) is evaluated as written, not taken for an id lookup.
func TestPatchRemoveMembersByValueOperators(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		for _, name := range []string{"a", "b", "c"} {
			r := e.do("POST", "/Users", `{"userName":"`+name+`@example.com"}`)
			if r.status != 201 {
				t.Fatalf("create %s: %d %s", name, r.status, r.raw)
			}
			e.vars[name] = r.json["id"].(string)
		}
		r := e.do("POST", "/Groups", `{"displayName":"Ops","members":[{"value":"${a}"},{"value":"${b}"},{"value":"${c}"}]}`)
		if r.status != 201 {
			t.Fatalf("create group: %d %s", r.status, r.raw)
		}
		e.vars["g"] = r.json["id"].(string)
		members := func() map[string]bool {
			got := map[string]bool{}
			ms, _ := e.do("GET", "/Groups/${g}", "").json["members"].([]any)
			for _, m := range ms {
				got[m.(map[string]any)["value"].(string)] = true
			}
			return got
		}
		e.vars["bmid"] = e.vars["b"][4:20] // inside b's id, at neither end
		r = e.do("PATCH", "/Groups/${g}", patchBody(`{"op":"remove","path":"members[value co \"${bmid}\"]"}`))
		if got := members(); r.status != 200 || len(got) != 2 || got[e.vars["b"]] {
			t.Errorf("remove members[value co (part of b's id)]: %d, members %v, want a and c", r.status, got)
		}
		r = e.do("PATCH", "/Groups/${g}", patchBody(`{"op":"remove","path":"members[value ne \"${a}\"]"}`))
		if got := members(); r.status != 200 || len(got) != 1 || !got[e.vars["a"]] {
			t.Errorf("remove members[value ne a]: %d, members %v, want a alone", r.status, got)
		}
	})
}

// TestUserEmailIsThePrimaryOrTheFirst: the email scimdesk keeps for a user (a setup code
// is checked against it, an invitation sent to it) is the primary one, else the first.
func TestUserEmailIsThePrimaryOrTheFirst(t *testing.T) {
	e := newEnv(t)
	e.t = t
	for _, c := range []struct{ emails, want string }{
		{`[{"value":"first@example.com"},{"value":"second@example.com"},{"value":"third@example.com"}]`, "first@example.com"},
		{`[{"value":"first@example.com"},{"value":"second@example.com","primary":true}]`, "second@example.com"},
	} {
		r := e.do("POST", "/Users", `{"userName":"`+c.want+`.user","emails":`+c.emails+`}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		u, err := e.db.UserByID(context.Background(), r.json["id"].(string))
		if err != nil || u.Email != c.want {
			t.Errorf("emails %s: kept %q (%v), want %q", c.emails, u.Email, err, c.want)
		}
	}
}

// TestDeactivationIsNamedInTheAuditLog: the Activity tab says "deactivated user" and
// "reactivated user" for a PATCH of active, the change an admin looks for first.
func TestDeactivationIsNamedInTheAuditLog(t *testing.T) {
	e := newEnv(t)
	e.t = t
	r := e.do("POST", "/Users", `{"userName":"leaver@example.com"}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	e.vars["u"] = r.json["id"].(string)
	for _, c := range []struct{ value, want string }{
		{"false", "deactivated user leaver@example.com"},
		{"true", "reactivated user leaver@example.com"},
	} {
		if r := e.do("PATCH", "/Users/${u}", patchBody(`{"op":"replace","path":"active","value":`+c.value+`}`)); r.status != 200 {
			t.Fatalf("active %s: %d %s", c.value, r.status, r.raw)
		}
		ev, err := e.db.EventsBefore(context.Background(), 0, 1)
		if err != nil || len(ev) != 1 || ev[0].Kind != "user.patch" || ev[0].Summary != c.want {
			t.Errorf("active %s: newest event %+v (%v), want user.patch %q", c.value, ev, err, c.want)
		}
	}
}
