package scimserver

import (
	"context"
	"fmt"
	"scimdesk/internal/teststore"
	"strings"
	"testing"

	"scimdesk/db"
)

func TestListsPagingSortingProjection(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		for i := range 25 {
			r := e.do("POST", "/Users", jsonBody(map[string]any{
				"userName":    fmt.Sprintf("user%02d@example.com", i),
				"displayName": fmt.Sprintf("User %c", 'Z'-i),
				"name":        map[string]any{"givenName": "G", "familyName": fmt.Sprintf("F%02d", i)},
				"emails":      []any{map[string]any{"value": fmt.Sprintf("u%d@work.example", i), "type": "work", "primary": true}},
				"active":      i%5 != 0,
				URNEnterprise: map[string]any{"department": []string{"Sales", "Ops"}[i%2]},
			}))
			if r.status != 201 {
				t.Fatalf("create %d: %d %s", i, r.status, r.raw)
			}
		}
		cases := []struct {
			name   string
			path   string
			expect map[string]any
		}{
			{"default page", "/Users", map[string]any{"totalResults": 25, "itemsPerPage": 25, "startIndex": 1, "Resources.0.userName": "user00@example.com"}},
			{"paging", "/Users?startIndex=11&count=5", map[string]any{"totalResults": 25, "itemsPerPage": 5, "startIndex": 11, "Resources.0.userName": "user10@example.com"}},
			{"startIndex below 1 means 1", "/Users?startIndex=-4&count=1", map[string]any{"startIndex": 1, "Resources.0.userName": "user00@example.com"}},
			{"count 0", "/Users?count=0", map[string]any{"totalResults": 25, "itemsPerPage": 0, "Resources": "[]"}},
			{"past the end", "/Users?startIndex=100", map[string]any{"totalResults": 25, "itemsPerPage": 0}},
			{"count capped", "/Users?count=100000", map[string]any{"itemsPerPage": 25}},
			{"filter total is matches not page", "/Users?filter=" + q(`active eq true`) + "&count=2", map[string]any{"totalResults": 20, "itemsPerPage": 2}},
			{"sort by displayName", "/Users?sortBy=displayName&count=1", map[string]any{"Resources.0.displayName": "User B"}},
			{"sort descending", "/Users?sortBy=userName&sortOrder=descending&count=1", map[string]any{"Resources.0.userName": "user24@example.com"}},
			{"sort by meta.created", "/Users?sortBy=meta.created&sortOrder=descending&count=1", map[string]any{"Resources.0.userName": "user24@example.com"}},
			{"filter on extension", "/Users?filter=" + q(`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales"`), map[string]any{"totalResults": 13}},
			{"filter email value path", "/Users?filter=" + q(`emails[type eq "work" and value eq "U3@WORK.example"]`), map[string]any{"totalResults": 1, "Resources.0.userName": "user03@example.com"}},
			{"filter with and/or/not", "/Users?filter=" + q(`(userName sw "user0" or userName eq "user10@example.com") and not (active eq false)`), map[string]any{"totalResults": 8}},
			{"attributes", "/Users?attributes=userName,name.familyName&count=1", map[string]any{
				"Resources.0.userName": "user00@example.com", "Resources.0.name.familyName": "F00", "Resources.0.name.givenName": "<absent>",
				"Resources.0.id": "<present>", "Resources.0.emails": "<absent>", "Resources.0.meta": "<absent>"}},
			{"excludedAttributes", "/Users?excludedAttributes=emails,meta,name.givenName&count=1", map[string]any{
				"Resources.0.emails": "<absent>", "Resources.0.meta": "<absent>", "Resources.0.name.familyName": "F00", "Resources.0.name.givenName": "<absent>", "Resources.0.userName": "<present>"}},
			{"unquoted filter value", "/Users?filter=" + q(`userName sw user0`), map[string]any{"totalResults": 10}},
			{"unquoted value on a sub-attribute", "/Users?filter=" + q(`name.familyName eq f03`), map[string]any{"totalResults": 1, "Resources.0.userName": "user03@example.com"}},
			{"upper-case attribute name", "/Users?filter=" + q(`USERNAME eq "USER03@example.com"`), map[string]any{"totalResults": 1}},
			{"trailing slash before the query", "/Users/?filter=" + q(`userName eq "user03@example.com"`), map[string]any{"totalResults": 1, "Resources.0.userName": "user03@example.com"}},
			{"attributes with a value filter", "/Users?attributes=" + q(`emails[type eq "work"]`) + "&count=1", map[string]any{
				"Resources.0.emails.0.value": "u0@work.example", "Resources.0.emails.0.type": "work", "Resources.0.userName": "<absent>"}},
			{"attributes with a value filter and a sub-attribute", "/Users?attributes=" + q(`userName,emails[type eq "a,b"].value`) + "&count=1", map[string]any{
				"Resources.0.emails.0.value": "u0@work.example", "Resources.0.emails.0.type": "<absent>", "Resources.0.userName": "user00@example.com"}},
			{"attributes of extension", "/Users?attributes=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department&count=1", map[string]any{
				"Resources.0.<" + URNEnterprise + ">.department": "Sales", "Resources.0.userName": "<absent>"}},
			{"attributes naming a whole extension", "/Users?attributes=" + URNEnterprise + "&count=1", map[string]any{
				"Resources.0.<" + URNEnterprise + ">.department": "Sales", "Resources.0.userName": "<absent>", "Resources.0.id": "<present>"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				r := e.do("GET", c.path, "")
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				r.expect(t, c.name, c.expect)
			})
		}
		e.t = t
		r := e.do("POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName sw \"user1\"","startIndex":2,"count":3,"attributes":["userName"],"sortBy":"userName"}`)
		if r.status != 200 {
			t.Fatalf(".search: %d %s", r.status, r.raw)
		}
		r.expect(t, ".search", map[string]any{"totalResults": 10, "itemsPerPage": 3, "startIndex": 2, "Resources.0.userName": "user11@example.com", "Resources.0.emails": "<absent>"})
	})
}

func TestETagsAndEvents(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"userName":"etag@example.com"}`)
		if r.status != 201 || r.header.Get("ETag") != `W/"1"` || r.header.Get("Location") != e.url+"/Users/"+r.json["id"].(string) {
			t.Fatalf("create: %d ETag %q Location %q", r.status, r.header.Get("ETag"), r.header.Get("Location"))
		}
		e.vars["u"] = r.json["id"].(string)
		if r := e.do("GET", "/Users/${u}", "", "If-None-Match", `W/"1"`); r.status != 304 {
			t.Errorf("If-None-Match current: %d", r.status)
		}
		if r := e.do("GET", "/Users/${u}", "", "If-None-Match", `W/"7", W/"8"`); r.status != 200 || r.json["userName"] != "etag@example.com" {
			t.Errorf("If-None-Match of other versions: %d, want 200 and the user", r.status)
		}
		if r := e.do("GET", "/Users/${u}", "", "If-None-Match", `W/"7", *`); r.status != 304 {
			t.Errorf("If-None-Match with *: %d, want 304", r.status)
		}
		if r := e.do("PUT", "/Users/${u}", `{"userName":"etag@example.com","title":"t"}`, "If-Match", `W/"1"`); r.status != 200 || r.header.Get("ETag") != `W/"2"` {
			t.Errorf("If-Match current: %d %s", r.status, r.header.Get("ETag"))
		}
		if r := e.do("PATCH", "/Users/${u}", `{"Operations":[{"op":"add","path":"title","value":"u"}]}`, "If-Match", `W/"1"`); r.status != 412 {
			t.Errorf("If-Match stale: %d", r.status)
		}
		e.do("PATCH", "/Users/${u}", `{"Operations":[{"op":"remove","path":"emails[type eq \"x\"]"}]}`)
		// Failures before the write transaction are audited too: a body that is not JSON, and
		// a PATCH refused by its limits (more filter work than one request may ask for).
		if r := e.do("POST", "/Users", `{"userName":`); r.status != 400 {
			t.Errorf("malformed create: %d", r.status)
		}
		var heavy []string
		for range 21 {
			heavy = append(heavy, `{"op":"remove","path":`+jsonBody(`emails[`+strings.Repeat(`type eq "x" or `, 98)+`type eq "y"]`)+`}`)
		}
		if r := e.do("PATCH", "/Users/${u}", patchBody(heavy...)); r.status != 400 || r.json["scimType"] != errInvalidFilter {
			t.Errorf("PATCH over its limits: %d %s", r.status, truncate(string(r.raw), 200))
		}
		events, err := e.db.EventsBefore(context.Background(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, ev := range events {
			kinds = append(kinds, fmt.Sprintf("%s/%s/%d", ev.Kind, ev.Outcome, ev.Status))
			if ev.Kind == "user.create" && ev.Outcome == db.OutcomeOK && (ev.Subject != "etag@example.com" || ev.TokenID == "" || ev.Addr != "127.0.0.1" || ev.Status != 201) {
				t.Errorf("create event: %+v", ev)
			}
			if ev.Failed() && (ev.TokenID == "" || ev.Addr != "127.0.0.1" || ev.Summary == "") {
				t.Errorf("failure event without its request: %+v", ev)
			}
		}
		want := "[user.patch/fail/400 user.create/fail/400 user.patch/fail/400 user.patch/fail/412 user.replace/ok/200 user.create/ok/201"
		if got := fmt.Sprint(kinds); len(got) < len(want) || got[:len(want)] != want {
			t.Errorf("events (newest first) = %v, want to start with %s]", kinds, want)
		}
	})
}

func TestDiscovery(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("GET", "/ResourceTypes", "")
		r.expect(t, "resource types", map[string]any{"totalResults": 2, "Resources.[id=User].endpoint": "/Users",
			"Resources.[id=User].schemaExtensions.0.schema": URNEnterprise, "Resources.[id=Group].schema": URNGroup})
		r = e.do("GET", "/Schemas", "")
		r.expect(t, "schemas", map[string]any{"totalResults": 3, "Resources.[id=" + URNUser + "].attributes.[name=userName].uniqueness": "server"})
		r = e.do("GET", "/Schemas/"+URNEnterprise, "")
		r.expect(t, "enterprise schema", map[string]any{"attributes.[name=manager].subAttributes.0.name": "value"})
		r = e.do("GET", "/ResourceTypes/Group", "")
		r.expect(t, "group type", map[string]any{"endpoint": "/Groups"})
		r = e.do("GET", "/ServiceProviderConfig", "")
		r.expect(t, "spc", map[string]any{"bulk.supported": false, "changePassword.supported": false, "sort.supported": true,
			"etag.supported": true, "documentationUri": "<absent>"})
	})
}
