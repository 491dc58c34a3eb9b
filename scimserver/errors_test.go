package scimserver

import (
	"context"
	"fmt"
	"net/http"
	"scimdesk/internal/testpg"
	"scimdesk/internal/teststore"
	"strings"
	"testing"
	"time"
)

// TestErrorPaths walks every error of SCIM.md: each must be a SCIM error body with the
// right status and scimType, never a 500.
func TestErrorPaths(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@example.com","emails":[{"value":"x@example.com","type":"work"}]}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		e.vars["u"] = r.json["id"].(string)
		r = e.do("POST", "/Groups", `{"displayName":"G"}`)
		if r.status != 201 {
			t.Fatalf("create group: %d %s", r.status, r.raw)
		}
		e.vars["g"] = r.json["id"].(string)
		big := `{"userName":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
		patch := func(ops string) string {
			return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + ops + `]}`
		}
		cases := []struct {
			name, method, path, body string
			hdr                      []string
			status                   int
			scimType                 string
		}{
			{"malformed JSON", "POST", "/Users", `{"userName":`, nil, 400, errInvalidSyntax},
			{"not an object", "POST", "/Users", `[1,2]`, nil, 400, errInvalidSyntax},
			{"trailing garbage", "POST", "/Users", `{"userName":"a"} x`, nil, 400, errInvalidSyntax},
			{"empty body", "POST", "/Users", ``, nil, 400, errInvalidSyntax},
			{"missing userName", "POST", "/Users", `{"name":{"givenName":"A"}}`, nil, 400, errInvalidValue},
			{"userName not a string", "POST", "/Users", `{"userName":{"a":1}}`, nil, 400, errInvalidValue},
			{"active not a boolean", "POST", "/Users", `{"userName":"b@x","active":"maybe"}`, nil, 400, errInvalidValue},
			{"userName a number", "POST", "/Users", `{"userName":123}`, nil, 400, errInvalidValue},
			{"emails a string", "POST", "/Users", `{"userName":"e@x","emails":"e@x"}`, nil, 400, errInvalidValue},
			{"value too long", "POST", "/Users", `{"userName":"l@x","displayName":"` + strings.Repeat("x", maxStringLen+1) + `"}`, nil, 400, errInvalidValue},
			{"too many emails", "POST", "/Users", `{"userName":"m@x","emails":[` + strings.Repeat(`{"value":"a@b"},`, maxValues) + `{"value":"c@d"}]}`, nil, 400, errInvalidValue},
			{"invalid UTF-8", "POST", "/Users", "{\"userName\":\"\xff\xfe@x\"}", nil, 400, errInvalidSyntax},
			{"blank filter", "GET", "/Users?filter=%20%20", "", nil, 400, errInvalidFilter},
			{"SCIM base URL itself", "GET", "", "", nil, 404, ""},
			{"body too large", "POST", "/Users", big, nil, 413, ""},
			{"duplicate userName", "POST", "/Users", `{"userName":"X@EXAMPLE.COM"}`, nil, 409, errUniqueness},
			{"unknown user", "GET", "/Users/nope", "", nil, 404, ""},
			{"unknown group", "GET", "/Groups/nope", "", nil, 404, ""},
			{"put unknown", "PUT", "/Users/nope", `{"userName":"q"}`, nil, 404, ""},
			{"patch unknown", "PATCH", "/Users/nope", patch(`{"op":"replace","value":{"active":false}}`), nil, 404, ""},
			{"unsupported filter attribute", "GET", "/Users?filter=" + q(`nickname2 eq "x"`), "", nil, 400, errInvalidFilter},
			{"unsupported attribute inside or", "GET", "/Users?filter=" + q(`userName eq "x@example.com" or password eq "x"`), "", nil, 400, errInvalidFilter},
			{"malformed filter", "GET", "/Users?filter=" + q(`userName eq`), "", nil, 400, errInvalidFilter},
			{"unterminated string", "GET", "/Users?filter=" + q(`userName eq "x`), "", nil, 400, errInvalidFilter},
			{"bad count", "GET", "/Users?count=ten", "", nil, 400, errInvalidValue},
			{"bad sortBy", "GET", "/Users?sortBy=password", "", nil, 400, errInvalidValue},
			{"bad sortOrder", "GET", "/Users?sortOrder=sideways", "", nil, 400, errInvalidValue},
			{"search with bad body", "POST", "/Users/.search", `{"filter":`, nil, 400, errInvalidSyntax},
			{"search with bad filter", "POST", "/Users/.search", `{"filter":"userName zz \"a\""}`, nil, 400, errInvalidFilter},
			{"patch malformed", "PATCH", "/Users/${u}", `{"Operations":`, nil, 400, errInvalidSyntax},
			{"patch no operations", "PATCH", "/Users/${u}", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, nil, 400, errInvalidValue},
			{"patch unknown op", "PATCH", "/Users/${u}", patch(`{"op":"merge","path":"title","value":"x"}`), nil, 400, errInvalidSyntax},
			{"patch remove without path", "PATCH", "/Users/${u}", patch(`{"op":"remove"}`), nil, 400, errNoTarget},
			{"patch remove matching nothing", "PATCH", "/Users/${u}", patch(`{"op":"remove","path":"emails[type eq \"home\"]"}`), nil, 400, errNoTarget},
			{"patch filtered replace matching nothing", "PATCH", "/Users/${u}", patch(`{"op":"replace","path":"emails[type eq \"home\"].value","value":"a@b"}`), nil, 400, errNoTarget},
			{"patch change id", "PATCH", "/Users/${u}", patch(`{"op":"replace","path":"id","value":"other"}`), nil, 400, errMutability},
			{"patch change id without path", "PATCH", "/Users/${u}", patch(`{"op":"replace","value":{"id":"other"}}`), nil, 400, errMutability},
			{"patch read-only groups", "PATCH", "/Users/${u}", patch(`{"op":"add","path":"groups","value":[{"value":"${g}"}]}`), nil, 400, errMutability},
			{"patch bad value type", "PATCH", "/Users/${u}", patch(`{"op":"replace","path":"active","value":"perhaps"}`), nil, 400, errInvalidValue},
			{"patch bad value type for string", "PATCH", "/Users/${u}", patch(`{"op":"replace","path":"displayName","value":{"a":1}}`), nil, 400, errInvalidValue},
			{"patch bad path", "PATCH", "/Users/${u}", patch(`{"op":"replace","path":"emails[type eq","value":"x"}`), nil, 400, errInvalidPath},
			{"patch filter on single-valued", "PATCH", "/Users/${u}", patch(`{"op":"replace","path":"title[value eq \"x\"]","value":"x"}`), nil, 400, errInvalidPath},
			{"patch remove required", "PATCH", "/Users/${u}", patch(`{"op":"remove","path":"userName"}`), nil, 400, errMutability},
			{"patch no-path value not an object", "PATCH", "/Users/${u}", patch(`{"op":"replace","value":"x"}`), nil, 400, errInvalidValue},
			{"patch rename to an existing user", "POST", "/Users", `{"userName":"y@example.com"}`, nil, 201, ""},
			{"patch userName to a taken one", "PATCH", "/Users/${u}", patch(`{"op":"replace","path":"userName","value":"Y@example.com"}`), nil, 409, errUniqueness},
			{"group member unknown", "PATCH", "/Groups/${g}", patch(`{"op":"add","path":"members","value":[{"value":"nobody"}]}`), nil, 400, errInvalidValue},
			{"group member without value", "PATCH", "/Groups/${g}", patch(`{"op":"add","path":"members","value":[{"display":"x"}]}`), nil, 400, errInvalidValue},
			{"group remove non-member by filter", "PATCH", "/Groups/${g}", patch(`{"op":"remove","path":"members[value eq \"${u}\"]"}`), nil, 400, errNoTarget},
			{"group without displayName", "POST", "/Groups", `{"members":[]}`, nil, 400, errInvalidValue},
			{"duplicate group", "POST", "/Groups", `{"displayName":"g"}`, nil, 409, errUniqueness},
			{"stale If-Match", "PUT", "/Users/${u}", `{"userName":"x@example.com"}`, []string{"If-Match", `W/"99"`}, 412, ""},
			{"stale If-Match on delete", "DELETE", "/Users/${u}", "", []string{"If-Match", `W/"99"`}, 412, ""},
			{"put changing id", "PUT", "/Users/${u}", `{"id":"other","userName":"x@example.com"}`, nil, 400, errMutability},
			{"attribute named twice", "POST", "/Users", `{"userName":"d1@x","USERNAME":"d2@x"}`, nil, 400, errInvalidSyntax},
			{"sub-attribute named twice", "POST", "/Users", `{"userName":"d3@x","name":{"givenName":"a","GivenName":"b"}}`, nil, 400, errInvalidSyntax},
			{"extension attribute named twice", "POST", "/Users", `{"userName":"d4@x","` + URNEnterprise + `":{"department":"a","DEPARTMENT":"b"}}`, nil, 400, errInvalidSyntax},
			{"element sub-attribute named twice", "POST", "/Users", `{"userName":"d5@x","emails":[{"value":"a@b","Value":"c@d"}]}`, nil, 400, errInvalidSyntax},
			{"patch value names an attribute twice", "PATCH", "/Users/${u}", patch(`{"op":"replace","value":{"displayName":"a","DISPLAYNAME":"b"}}`), nil, 400, errInvalidSyntax},
			{"patch element names a sub-attribute twice", "PATCH", "/Users/${u}", patch(`{"op":"add","path":"emails","value":[{"value":"a@b","VALUE":"c@d"}]}`), nil, 400, errInvalidSyntax},
			{"attribute named twice, same spelling", "POST", "/Users", `{"userName":"d6@x","userName":"d7@x"}`, nil, 400, errInvalidSyntax},
			{"sub-attribute named twice, same spelling", "POST", "/Groups", `{"displayName":"g","members":[{"value":"a","value":"b"}]}`, nil, 400, errInvalidSyntax},
			{"patch operation names its path twice", "PATCH", "/Users/${u}", patch(`{"op":"remove","path":"displayName","path":"emails"}`), nil, 400, errInvalidSyntax},
			{"patch extension value names an attribute twice", "PATCH", "/Users/${u}", patch(`{"op":"add","path":"` + URNEnterprise + `","value":{"division":"a","Division":"b"}}`), nil, 400, errInvalidSyntax},
			{"patch remove active", "PATCH", "/Users/${u}", patch(`{"op":"remove","path":"active"}`), nil, 400, errMutability},
			{"patch active to null", "PATCH", "/Users/${u}", patch(`{"op":"replace","value":{"active":null}}`), nil, 400, errMutability},
			{"resource too large", "POST", "/Users", bigEmails(99, 1500), nil, 400, errInvalidValue},
			{"too many attributes", "GET", "/Users?attributes=" + strings.Repeat("userName,", maxProjectionNames) + "id", "", nil, 400, errInvalidValue},
			{"too many excludedAttributes on a get", "GET", "/Users/${u}?excludedAttributes=" + strings.Repeat("title,", maxProjectionNames) + "id", "", nil, 400, errInvalidValue},
			{"as many attributes as allowed", "GET", "/Users?attributes=" + strings.Repeat("userName,", maxProjectionNames-1) + "id", "", nil, 200, ""},
			{"as many excludedAttributes as allowed", "GET", "/Users/${u}?excludedAttributes=" + strings.Repeat("title,", maxProjectionNames-1) + "id", "", nil, 200, ""},
			{"too many attributes on a patch", "PATCH", "/Users/${u}?attributes=" + strings.Repeat("title,", maxProjectionNames) + "id", patch(`{"op":"replace","path":"title","value":"x"}`), nil, 400, errInvalidValue},
			{"too many attributes in a search", "POST", "/Users/.search", `{"attributes":[` + strings.Repeat(`"title",`, maxProjectionNames) + `"id"]}`, nil, 400, errInvalidValue},
			{"root search with an unknown attribute", "POST", "/.search", `{"filter":"nosuch eq \"x\""}`, nil, 400, errInvalidFilter},
			{"root search with GET", "GET", "/.search", "", nil, 405, ""},
			{"root search sorted by a user-only attribute", "POST", "/.search", `{"sortBy":"userName"}`, nil, 400, errInvalidValue},
			{"method not allowed", "DELETE", "/Users", "", nil, 405, ""},
			{"unknown endpoint", "GET", "/Bulk", "", nil, 404, ""},
			{"unknown schema", "GET", "/Schemas/urn:nope", "", nil, 404, ""},
			{"unknown resource type", "GET", "/ResourceTypes/Device", "", nil, 404, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				r := e.do(c.method, c.path, c.body, c.hdr...)
				if r.status != c.status {
					t.Fatalf("status %d, want %d: %s", r.status, c.status, r.raw)
				}
				if got, _ := r.json["scimType"].(string); got != c.scimType {
					t.Errorf("scimType %q, want %q (%s)", got, c.scimType, r.json["detail"])
				}
			})
		}
		e.t = t
		// Nothing above changed the user.
		r = e.do("GET", "/Users/${u}", "")
		r.expect(t, "after errors", map[string]any{"userName": "x@example.com", "meta.version": `W/"1"`, "active": true})
	})
}

func q(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "#", "%23", "&", "%26", "+", "%2B").Replace(s)
}

func TestAuth(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		ctx := context.Background()
		cases := []struct {
			name  string
			token string
			want  int
		}{
			{"no token", "", 401},
			{"unknown token", "scim_nope", 401},
			{"valid token", e.token, 200},
		}
		for _, c := range cases {
			r := e.doToken(c.token, "GET", "/Users", "")
			if r.status != c.want {
				t.Errorf("%s: %d, want %d", c.name, r.status, c.want)
			}
			if c.want == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate = %q", c.name, r.header.Get("WWW-Authenticate"))
			}
		}
		// Basic auth is not a bearer token.
		req, _ := http.NewRequest("GET", e.url+"/Users", nil)
		req.SetBasicAuth("admin", e.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("basic auth: %d", res.StatusCode)
		}

		// Disabling takes effect on the very next request, and the token survives it.
		if err := e.db.SetSCIMEnabled(ctx, false, "test"); err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", "/Users", "")
		if r.status != 403 || r.json["detail"] != "SCIM provisioning is disabled" {
			t.Errorf("disabled: %d %s", r.status, r.raw)
		}
		if err := e.db.SetSCIMEnabled(ctx, true, "test"); err != nil {
			t.Fatal(err)
		}
		if r := e.do("GET", "/Users", ""); r.status != 200 {
			t.Errorf("re-enabled: %d", r.status)
		}

		// Revocation takes effect on the very next request.
		tok, secret, err := e.db.CreateToken(ctx, "second", 0, "test")
		if err != nil {
			t.Fatal(err)
		}
		if r := e.doToken(secret, "GET", "/Users", ""); r.status != 200 {
			t.Fatalf("second token: %d", r.status)
		}
		if err := e.db.RevokeToken(ctx, tok.ID, "test"); err != nil {
			t.Fatal(err)
		}
		if r := e.doToken(secret, "GET", "/Users", ""); r.status != 401 {
			t.Errorf("revoked token: %d", r.status)
		}

		// An expired token is refused.
		_, short, err := e.db.CreateToken(ctx, "short", time.Millisecond, "test")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if r := e.doToken(short, "GET", "/Users", ""); r.status != 401 {
			t.Errorf("expired token: %d", r.status)
		}

		// Refused requests are audited, but a flood is throttled.
		for range 50 {
			e.doToken("scim_flood", "GET", "/Users", "")
		}
		events, err := e.db.EventsBefore(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		refused := 0
		for _, ev := range events {
			if ev.Kind == "auth.refused" {
				refused++
			}
		}
		if refused == 0 || refused > refusedPerWindow+1 {
			t.Errorf("%d refused-auth events recorded for 55 refusals; want between 1 and %d", refused, refusedPerWindow+1)
		}

		// The token's last use reaches the database with the heartbeat, not per request.
		deadline := time.Now().Add(3 * time.Second)
		for {
			tokens, _ := e.db.Tokens(ctx)
			var used bool
			for _, tk := range tokens {
				if tk.Description == "test" && !tk.LastUsed.IsZero() && tk.LastUsedAddr == "127.0.0.1" {
					used = true
				}
			}
			if used {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("token last use never recorded")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestNoOpPatchKeepsVersion: a PATCH that changes nothing answers 200 and keeps the ETag,
// so clients that use If-Match get no spurious 412.
func TestNoOpPatchKeepsVersion(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"userName":"noop@example.com","title":"t"}`)
		e.vars["u"] = r.json["id"].(string)
		for _, body := range []string{
			`{"Operations":[{"op":"replace","path":"title","value":"t"}]}`,
			`{"Operations":[{"op":"replace","path":"someAttributeWeDoNotKeep","value":"x"}]}`,
		} {
			r = e.do("PATCH", "/Users/${u}", body)
			if r.status != 200 || r.header.Get("ETag") != `W/"1"` {
				t.Errorf("%s: %d ETag %s", body, r.status, r.header.Get("ETag"))
			}
		}
		r = e.do("POST", "/Groups", `{"displayName":"noop","members":[{"value":"${u}"}]}`)
		e.vars["g"] = r.json["id"].(string)
		r = e.do("PATCH", "/Groups/${g}", `{"Operations":[{"op":"add","path":"members","value":[{"value":"${u}"}]}]}`)
		if r.status != 200 || r.header.Get("ETag") != `W/"1"` {
			t.Errorf("re-adding a member: %d ETag %s", r.status, r.header.Get("ETag"))
		}
		r = e.do("PATCH", "/Groups/${g}", `{"Operations":[{"op":"remove","path":"members","value":[{"value":"${u}"}]}]}`)
		if r.status != 200 || r.header.Get("ETag") != `W/"2"` {
			t.Errorf("removing a member: %d ETag %s", r.status, r.header.Get("ETag"))
		}
		// Entra removes members with a value list; one already gone is no change either.
		r = e.do("PATCH", "/Groups/${g}", `{"Operations":[{"op":"remove","path":"members","value":[{"value":"${u}"}]}]}`)
		if r.status != 200 || r.header.Get("ETag") != `W/"2"` {
			t.Errorf("removing a member already gone: %d ETag %s", r.status, r.header.Get("ETag"))
		}
	})
}

// TestHeadAndForwardedAddress: HEAD answers like GET; behind a local reverse proxy the
// audit log records the address the proxy saw, and a remote X-Forwarded-For is ignored.
func TestHeadAndForwardedAddress(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		req, _ := http.NewRequest("HEAD", e.url+"/Users", nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("HEAD /Users: %d", res.StatusCode)
		}
		r := e.do("POST", "/Users", `{"userName":"fwd@example.com"}`, "X-Forwarded-For", "198.51.100.7, 203.0.113.9")
		if r.status != 201 {
			t.Fatalf("create: %d", r.status)
		}
		events, _ := e.db.EventsBefore(context.Background(), 0, 1)
		if len(events) != 1 || events[0].Addr != "203.0.113.9" {
			t.Errorf("event address %+v, want the proxy's last hop 203.0.113.9", events)
		}
	})
}

// bigEmails is a user with n distinct emails of size bytes each.
func bigEmails(n, size int) string {
	var vals []string
	for i := range n {
		vals = append(vals, fmt.Sprintf(`{"value":"%d%s"}`, i, strings.Repeat("b", size)))
	}
	return `{"userName":"big@x","emails":[` + strings.Join(vals, ",") + `]}`
}

// TestDatabaseOutageIs503 cuts the server off its PostgreSQL database (every connection
// ended, the database renamed away so none can be made) and back: meanwhile a request is
// answered 503 with Retry-After, which identity providers retry, not 500; once the
// database is back the server serves again by itself.
func TestDatabaseOutageIs503(t *testing.T) {
	e := newEnvOn(t, teststore.Engines[1])
	if r := e.do("POST", "/Users", `{"userName":"before@example.com"}`); r.status != http.StatusCreated {
		t.Fatalf("create before the outage: %d", r.status)
	}
	e.unavailableOK = true
	back := testpg.CutOff(t, e.db.Path()) // no password in the test cluster's URL
	for _, req := range [][3]string{
		{"GET", "/Users?filter=userName%20eq%20%22before@example.com%22", ""},
		{"POST", "/Users", `{"userName":"during@example.com"}`},
	} {
		r := e.doToken(e.token, req[0], req[1], req[2])
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s during the outage: %d (Retry-After %q), want 503 with Retry-After", req[0], req[1], r.status, r.header.Get("Retry-After"))
		}
	}
	back()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := e.do("POST", "/Users", `{"userName":"after@example.com"}`)
		if r.status == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not serve again after the database came back: %d", r.status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
