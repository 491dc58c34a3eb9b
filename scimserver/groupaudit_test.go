package scimserver

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"scimdesk/internal/teststore"
)

// TestGroupWritesAndTheirAudit: what an identity provider sees of each group write (the
// status, Location on a create, a refused unknown member that leaves nothing behind, a
// stale If-Match) and what the audit log says of it, as the activity tab shows it.
func TestGroupWritesAndTheirAudit(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		var ids []string
		for i := range 2 {
			r := e.do("POST", "/Users", fmt.Sprintf(`{"userName":"member%d@example.com"}`, i))
			if r.status != http.StatusCreated {
				t.Fatalf("create user: %d", r.status)
			}
			ids = append(ids, r.json["id"].(string))
		}
		lastSummary := func(kind string) (string, string) {
			t.Helper()
			ev := eventsSince(t, e, 0)
			for i := len(ev) - 1; i >= 0; i-- {
				if ev[i].Kind == kind {
					return ev[i].Summary, ev[i].Subject
				}
			}
			t.Fatalf("no %s event", kind)
			return "", ""
		}

		// An unknown member refuses the whole create: no group is left.
		r := e.do("POST", "/Groups", `{"displayName":"Ghosts","members":[{"value":"`+ids[0]+`"},{"value":"no-such-user"}]}`)
		if r.status != http.StatusBadRequest || r.json["scimType"] != "invalidValue" {
			t.Fatalf("create with an unknown member: %d %v", r.status, r.json)
		}
		if l := e.do("GET", "/Groups?filter=displayName%20eq%20%22Ghosts%22", ""); l.json["totalResults"] != float64(0) {
			t.Errorf("a refused create left a group: %v", l.json)
		}
		// Many unknown members: the first five are named, the rest counted.
		var unknown []string
		for i := range 7 {
			unknown = append(unknown, fmt.Sprintf(`{"value":"ghost-%d"}`, i))
		}
		r = e.do("POST", "/Groups", `{"displayName":"Ghosts","members":[`+strings.Join(unknown, ",")+`]}`)
		if d, _ := r.json["detail"].(string); r.status != http.StatusBadRequest || !strings.Contains(d, `"ghost-4"`) ||
			strings.Contains(d, `"ghost-5"`) || !strings.HasSuffix(d, "and 2 more") {
			t.Errorf("create with seven unknown members: %d %q", r.status, d)
		}

		r = e.do("POST", "/Groups", `{"displayName":"Eng","members":[{"value":"`+ids[0]+`"},{"value":"`+ids[1]+`"}]}`)
		if r.status != http.StatusCreated {
			t.Fatalf("create group: %d %v", r.status, r.json)
		}
		gid := r.json["id"].(string)
		if loc := r.header.Get("Location"); loc != e.url+"/Groups/"+gid {
			t.Errorf("Location of the created group: %q, want %q", loc, e.url+"/Groups/"+gid)
		}
		if s, _ := lastSummary("group.create"); s != "created group Eng with 2 members" {
			t.Errorf("create summary: %q", s)
		}
		if g := e.do("GET", "/Groups/"+gid, ""); g.header.Get("Location") != "" || g.status != http.StatusOK {
			t.Errorf("a read answers %d with Location %q", g.status, g.header.Get("Location"))
		}

		patch := func(op string) response {
			t.Helper()
			return e.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`+op+`]}`)
		}
		if r := patch(`{"op":"replace","path":"displayName","value":"Engineering"}`); r.status != http.StatusOK {
			t.Fatalf("rename: %d %v", r.status, r.json)
		}
		if s, _ := lastSummary("group.patch"); s != "renamed group Eng to Engineering" {
			t.Errorf("rename summary: %q", s)
		}
		if r := patch(`{"op":"remove","path":"members[value eq \"` + ids[1] + `\"]"}`); r.status != http.StatusOK {
			t.Fatalf("remove a member: %d %v", r.status, r.json)
		}
		if s, _ := lastSummary("group.patch"); s != "changed members of group Engineering" {
			t.Errorf("member change summary: %q", s)
		}
		before := e.do("GET", "/Groups/"+gid, "").header.Get("ETag")
		if r := patch(`{"op":"replace","path":"displayName","value":"Engineering"}`); r.status != http.StatusOK {
			t.Fatalf("no-op patch: %d", r.status)
		}
		if s, _ := lastSummary("group.patch"); s != "patched group Engineering (no change)" {
			t.Errorf("no-op summary: %q", s)
		}
		if after := e.do("GET", "/Groups/"+gid, "").header.Get("ETag"); after != before {
			t.Errorf("a no-op patch changed the version: %s -> %s", before, after)
		}

		if r := e.do("DELETE", "/Groups/"+gid, "", "If-Match", `W/"1"`); r.status != http.StatusPreconditionFailed {
			t.Errorf("delete with a stale If-Match: %d", r.status)
		}
		if g := e.do("GET", "/Groups/"+gid, ""); g.status != http.StatusOK {
			t.Fatalf("the group after a refused delete: %d", g.status)
		}
		if r := e.do("DELETE", "/Groups/"+gid, "", "If-Match", before); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %v", r.status, r.json)
		}
		if s, subject := lastSummary("group.delete"); s != "deleted group Engineering" || subject != "Engineering" {
			t.Errorf("delete event: %q about %q", s, subject)
		}
		if r := e.do("DELETE", "/Groups/"+gid, ""); r.status != http.StatusNotFound {
			t.Errorf("delete again: %d", r.status)
		}
	})
}
