package scimserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"scimdesk/internal/teststore"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHead checks RFC 7231 HEAD: the status and headers of GET (ETag, Content-Type), no
// body, read off the wire; and the handler leaves the caller's request as it was.
func TestHead(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"userName":"head@example.com"}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		id := r.json["id"].(string)
		get := e.do("GET", "/Users/"+id, "")
		u, _ := url.Parse(e.url)
		for _, c := range []struct {
			path   string
			status int
			etag   string
		}{
			{u.Path + "/Users/" + id, 200, get.header.Get("ETag")},
			{u.Path + "/Users/nobody", 404, ""},
			{u.Path + "/Users", 200, ""},
		} {
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "HEAD %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", c.path, u.Host, e.token)
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
			if err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(br) // everything after the headers: must be nothing
			conn.Close()
			if res.StatusCode != c.status || res.Header.Get("Content-Type") != contentType || len(rest) != 0 {
				t.Errorf("HEAD %s: %d %q, %d bytes after the headers: %q", c.path, res.StatusCode, res.Header.Get("Content-Type"), len(rest), truncate(string(rest), 80))
			}
			if c.etag != "" && res.Header.Get("ETag") != c.etag {
				t.Errorf("HEAD %s: ETag %q, GET says %q", c.path, res.Header.Get("ETag"), c.etag)
			}
		}
		req := httptest.NewRequest("HEAD", "http://scim.test/scim/v2/Users/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		e.srv.Handler().ServeHTTP(httptest.NewRecorder(), req)
		if req.Method != "HEAD" {
			t.Errorf("the handler changed the caller's request method to %s", req.Method)
		}
	})
}

// TestPatchExtensionPath sends PATCH operations whose path is the enterprise extension's
// URN (RFC 7644 §3.5.2: a complex attribute as the target): add merges, replace
// replaces, remove removes.
func TestPatchExtensionPath(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"userName":"ext@example.com","`+URNEnterprise+`":{"department":"Sales","employeeNumber":"7"}}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		e.vars["u"] = r.json["id"].(string)
		ext := "<" + URNEnterprise + ">."
		steps := []struct {
			op     string
			expect map[string]any
		}{
			{`{"op":"add","path":"` + URNEnterprise + `","value":{"costCenter":"C1","manager":"boss-id"}}`,
				map[string]any{ext + "department": "Sales", ext + "employeeNumber": "7", ext + "costCenter": "C1", ext + "manager.value": "boss-id"}},
			{`{"op":"Replace","path":"` + URNEnterprise + `","value":{"division":"D"}}`,
				map[string]any{ext + "division": "D", ext + "department": "<absent>", ext + "costCenter": "<absent>", ext + "manager": "<absent>", "schemas.1": URNEnterprise}},
			{`{"op":"remove","path":"` + strings.ToLower(URNEnterprise) + `"}`,
				map[string]any{"<" + URNEnterprise + ">": "<absent>", "schemas.1": "<absent>", "userName": "ext@example.com"}},
		}
		for i, s := range steps {
			r := e.do("PATCH", "/Users/${u}", patchBody(s.op))
			if r.status != 200 {
				t.Fatalf("step %d: %d %s", i, r.status, r.raw)
			}
			r.expect(t, fmt.Sprintf("step %d", i), s.expect)
			e.do("GET", "/Users/${u}", "").expect(t, fmt.Sprintf("step %d read back", i), s.expect)
		}
	})
}

// TestPatchRemoveActive: removing active must not reactivate a deactivated user (an
// absent active reads as true). The server refuses it with 400 mutability.
func TestPatchRemoveActive(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"userName":"off@example.com","active":false}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		e.vars["u"] = r.json["id"].(string)
		for _, op := range []string{`{"op":"remove","path":"active"}`, `{"op":"Remove","path":"urn:ietf:params:scim:schemas:core:2.0:User:active"}`,
			`{"op":"replace","path":"active","value":null}`} {
			r = e.do("PATCH", "/Users/${u}", patchBody(op))
			if r.status != 400 || r.json["scimType"] != errMutability {
				t.Errorf("%s: %d %s, want 400 mutability", op, r.status, r.raw)
			}
		}
		e.do("GET", "/Users/${u}", "").expect(t, "after", map[string]any{"active": false, "meta.version": `W/"1"`})
	})
}

// TestMultiValuedDuplicatesAndPrimary: two elements with the same type and value are
// one (RFC 7643 §2.4 SHOULD NOT): they are merged, the later one's sub-attributes
// winning; and a primary false that a client sent is stored and returned.
func TestMultiValuedDuplicatesAndPrimary(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"userName":"dup@example.com","emails":[
		{"value":"a@example.com","type":"work"},
		{"value":"b@example.com","type":"home","primary":false},
		{"value":"A@EXAMPLE.COM","type":"Work","primary":true}]}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		e.vars["u"] = r.json["id"].(string)
		want := map[string]any{"emails.0.value": "A@EXAMPLE.COM", "emails.0.type": "Work", "emails.0.primary": true, "emails.1.value": "b@example.com",
			"emails.1.primary": false, "emails.2": "<absent>"}
		r.expect(t, "created", want)
		e.do("GET", "/Users/${u}", "").expect(t, "read back", want)

		r = e.do("PATCH", "/Users/${u}", patchBody(`{"op":"add","path":"emails","value":[{"value":"B@example.com","type":"HOME","display":"Home"}]}`))
		if r.status != 200 {
			t.Fatalf("PATCH: %d %s", r.status, r.raw)
		}
		r.expect(t, "after adding a duplicate", map[string]any{"emails.1.value": "B@example.com", "emails.1.primary": false, "emails.1.display": "Home", "emails.2": "<absent>"})
	})
}

// TestRootSearch covers POST /.search at the root (RFC 7644 §3.4.3): users then groups,
// paging over both, totalResults of both, each resource with its schemas, and a filter
// whose attributes one type lacks matching nothing of that type.
func TestRootSearch(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		var userIDs []string
		for i := range 3 {
			r := e.do("POST", "/Users", fmt.Sprintf(`{"userName":"root%d@example.com","displayName":"Alpha %d"}`, i, i))
			if r.status != 201 {
				t.Fatalf("create: %d %s", r.status, r.raw)
			}
			userIDs = append(userIDs, r.json["id"].(string))
		}
		for i, name := range []string{"Alpha team", "Beta team"} {
			body := fmt.Sprintf(`{"displayName":%q}`, name)
			if i == 0 {
				body = fmt.Sprintf(`{"displayName":%q,"members":[{"value":%q}]}`, name, userIDs[0])
			}
			if r := e.do("POST", "/Groups", body); r.status != 201 {
				t.Fatalf("create group: %d %s", r.status, r.raw)
			}
		}
		cases := []struct {
			name, body string
			expect     map[string]any
		}{
			{"everything", `{}`, map[string]any{"totalResults": 5, "itemsPerPage": 5, "Resources.0.userName": "root0@example.com",
				"Resources.0.schemas.0": URNUser, "Resources.3.displayName": "Alpha team", "Resources.3.schemas.0": URNGroup,
				"Resources.3.members.0.value": userIDs[0], "Resources.4.displayName": "Beta team"}},
			{"a page across both types", `{"startIndex":3,"count":2}`, map[string]any{"totalResults": 5, "itemsPerPage": 2, "startIndex": 3,
				"Resources.0.userName": "root2@example.com", "Resources.1.displayName": "Alpha team", "Resources.2": "<absent>"}},
			{"a page of groups only", `{"startIndex":5,"count":10}`, map[string]any{"totalResults": 5, "itemsPerPage": 1, "Resources.0.displayName": "Beta team"}},
			{"count 0", `{"count":0}`, map[string]any{"totalResults": 5, "itemsPerPage": 0}},
			{"a filter on an attribute both have", `{"filter":"displayName sw \"alpha\""}`, map[string]any{"totalResults": 4, "Resources.3.displayName": "Alpha team"}},
			{"a filter on a user attribute", `{"filter":"userName sw \"root\""}`, map[string]any{"totalResults": 3, "Resources.2.userName": "root2@example.com"}},
			{"a group attribute", `{"filter":"members pr"}`, map[string]any{"totalResults": 1, "Resources.0.displayName": "Alpha team"}},
			{"not of an attribute a type lacks", `{"filter":"not (userName sw \"root\")"}`, map[string]any{"totalResults": 2, "Resources.0.displayName": "Alpha team"}},
			{"projection per type", `{"attributes":["displayName"],"startIndex":3}`, map[string]any{"Resources.0.displayName": "Alpha 2",
				"Resources.0.userName": "<absent>", "Resources.1.displayName": "Alpha team", "Resources.1.members": "<absent>"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				r := e.do("POST", "/.search", c.body)
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				r.expect(t, c.name, c.expect)
			})
		}
	})
}

// TestPatchRemoveTakesEffect: a remove that answers 200 must have removed what it names
// and nothing else, as a GET afterwards shows. Each step's expectations include what the
// earlier steps left, so a remove that did nothing, or took too much, fails.
func TestPatchRemoveTakesEffect(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"userName":"rm@example.com","externalId":"ext-rm","displayName":"Remove Me","title":"Clerk",
		"name":{"givenName":"Rem","familyName":"Oved"},
		"emails":[{"value":"work@example.com","type":"work","primary":true},{"value":"home@example.com","type":"home"}],
		"`+URNEnterprise+`":{"department":"Sales","employeeNumber":"42"}}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		e.vars["u"] = r.json["id"].(string)
		ext := "<" + URNEnterprise + ">."
		steps := []struct {
			op     string
			expect map[string]any
		}{
			{`{"op":"remove","path":"displayName"}`,
				map[string]any{"displayName": "<absent>", "title": "Clerk", "name.givenName": "Rem"}},
			{`{"op":"remove","path":"name.givenName"}`,
				map[string]any{"name.givenName": "<absent>", "name.familyName": "Oved"}},
			{`{"op":"remove","path":"name"}`,
				map[string]any{"name": "<absent>", "title": "Clerk"}},
			{`{"op":"remove","path":"` + URNEnterprise + `:department"}`,
				map[string]any{ext + "department": "<absent>", ext + "employeeNumber": "42"}},
			{`{"op":"remove","path":"emails[type eq \"home\"]"}`,
				map[string]any{"emails.0.value": "work@example.com", "emails.0.type": "work", "emails.1": "<absent>"}},
			{`{"op":"remove","path":"externalId"}`,
				map[string]any{"externalId": "<absent>", "userName": "rm@example.com", "title": "Clerk", "emails.0.value": "work@example.com"}},
		}
		for i, s := range steps {
			r := e.do("PATCH", "/Users/${u}", patchBody(s.op))
			if r.status != 200 {
				t.Fatalf("step %d %s: %d %s", i, s.op, r.status, r.raw)
			}
			what := fmt.Sprintf("step %d %s", i, s.op)
			r.expect(t, what, s.expect)
			e.do("GET", "/Users/${u}", "").expect(t, what+", read back", s.expect)
		}
		// The removed externalId is gone from the index too: a filter on it finds nobody.
		r = e.do("GET", "/Users?filter="+q(`externalId eq "ext-rm"`), "")
		r.expect(t, "filter on the removed externalId", map[string]any{"totalResults": 0})
	})
}

// TestPatchValueFilterLogic: the value filters of PATCH paths (emails[...], members[...])
// are evaluated in memory. Each case is built so that a wrong evaluation of not, and, or
// or of the grouping by parentheses removes a visibly different set of elements.
func TestPatchValueFilterLogic(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		// a: work, example.com; b: home, example.com; c: home, example.org; d: other, example.org.
		emails := `[{"value":"a@example.com","type":"work"},{"value":"b@example.com","type":"home"},
		{"value":"c@example.org","type":"home"},{"value":"d@example.org","type":"other"}]`
		for i, c := range []struct {
			path string
			keep string // the values left, in order
		}{
			{`emails[not (type eq "work")]`, "a@example.com"},
			{`emails[type eq "home" and value ew "example.org"]`, "a@example.com b@example.com d@example.org"},
			{`emails[type eq "work" or value ew "example.org"]`, "b@example.com"},
			{`emails[(type eq "home" or type eq "other") and value ew "example.org"]`, "a@example.com b@example.com"},
			{`emails[type eq "work" or (type eq "other" and value co "d@")]`, "b@example.com c@example.org"},
			{`emails[not (type eq "home") and not (value ew "example.org")]`, "b@example.com c@example.org d@example.org"},
			{`emails[not (type eq "home" or value ew "example.com")]`, "a@example.com b@example.com c@example.org"},
		} {
			r := e.do("POST", "/Users", fmt.Sprintf(`{"userName":"vf%d@example.com","emails":%s}`, i, emails))
			if r.status != 201 {
				t.Fatalf("create: %d %s", r.status, r.raw)
			}
			e.vars["u"] = r.json["id"].(string)
			r = e.do("PATCH", "/Users/${u}", patchBody(`{"op":"remove","path":`+jsonBody(c.path)+`}`))
			if r.status != 200 {
				t.Errorf("%s: %d %s", c.path, r.status, r.raw)
				continue
			}
			if got := emailValues(e.do("GET", "/Users/${u}", "")); got != c.keep {
				t.Errorf("remove %s: left %q, want %q", c.path, got, c.keep)
			}
		}

		// Members: alice and bob are admins; carol is not. The member filter has fast paths
		// (value eq, value sw) and a pass over the list for anything else; a request with a
		// filter of the second kind reads the list, so its value eq steps take the in-memory
		// fast path, and one without takes the SQL one.
		users := map[string]string{}
		for _, n := range []string{"Alice Admin", "Bob Admin", "Carol User"} {
			r := e.do("POST", "/Users", `{"userName":`+jsonBody(strings.ToLower(n[:strings.IndexByte(n, ' ')])+"@example.com")+`,"displayName":`+jsonBody(n)+`}`)
			if r.status != 201 {
				t.Fatalf("create: %d %s", r.status, r.raw)
			}
			users[n[:strings.IndexByte(n, ' ')]] = r.json["id"].(string)
		}
		alice, bob, carol := users["Alice"], users["Bob"], users["Carol"]
		for i, c := range []struct {
			ops  []string
			keep []string
		}{
			{[]string{`members[display co "Admin" and not (value eq "` + alice + `")]`}, []string{alice, carol}},
			{[]string{`members[not (display co "Admin")]`}, []string{alice, bob}},
			{[]string{`members[value eq "` + alice + `" or value eq "` + carol + `"]`}, []string{bob}},
			{[]string{`members[display sw "carol" or (display co "admin" and display ew "x")]`}, []string{alice, bob}},
			{[]string{`members[(display sw "alice" or display sw "bob") and not (display ew "nobody")]`}, []string{carol}},
			{[]string{`members[value sw "` + bob[:13] + `"]`}, []string{alice, carol}},
			{[]string{`members[value eq "` + carol + `"]`}, []string{alice, bob}},
			{[]string{`members[display eq "Bob Admin"]`, `members[value eq "` + carol + `"]`}, []string{alice}},
			{[]string{`members[display eq "Bob Admin"]`, `members[value sw "` + alice[:13] + `"]`}, []string{carol}},
		} {
			r := e.do("POST", "/Groups", fmt.Sprintf(`{"displayName":"vf-group-%d","members":[{"value":%q},{"value":%q},{"value":%q}]}`, i, alice, bob, carol))
			if r.status != 201 {
				t.Fatalf("create group: %d %s", r.status, r.raw)
			}
			e.vars["g"] = r.json["id"].(string)
			var ops []string
			for _, p := range c.ops {
				ops = append(ops, `{"op":"remove","path":`+jsonBody(p)+`}`)
			}
			r = e.do("PATCH", "/Groups/${g}", patchBody(ops...))
			if r.status != 200 && r.status != 204 {
				t.Errorf("%v: %d %s", c.ops, r.status, r.raw)
				continue
			}
			var got []string
			members, _ := e.do("GET", "/Groups/${g}", "").json["members"].([]any)
			for _, m := range members {
				got = append(got, m.(map[string]any)["value"].(string))
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(c.keep))
			if !slices.Equal(got, want) {
				t.Errorf("remove %v: left %v, want %v (alice %s, bob %s, carol %s)", c.ops, got, want, alice, bob, carol)
			}
		}
	})
}

func emailValues(r response) string {
	var vs []string
	list, _ := r.json["emails"].([]any)
	for _, el := range list {
		vs = append(vs, fmt.Sprint(el.(map[string]any)["value"]))
	}
	return strings.Join(vs, " ")
}
