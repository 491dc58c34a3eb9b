package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"scimdesk/db"
)

// FuzzPatch sends arbitrary PATCH bodies to a user and a group: no input may panic or be
// answered with a 500, and every error must be a SCIM error body.
func FuzzPatch(f *testing.F) {
	for _, seed := range []string{
		`{"Operations":[{"op":"replace","value":{"active":false}}]}`,
		`{"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"a@b"}]}`,
		`{"Operations":[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"x"}]}`,
		`{"Operations":[{"op":"remove","path":"members[value eq \"x\"]"}]}`,
		`{"Operations":[{"op":"add","path":"members","value":[{"value":"x"}]}]}`,
		`{"Operations":[{"op":"replace","path":"name","value":{"givenName":1}}]}`,
		`{"Operations":[{"op":"add","path":"emails","value":[{"value":"a","primary":"True"},{"value":"b","primary":true}]}]}`,
		`{"Operations":[{"op":"remove","path":"emails[not (type eq \"work\")].value"}]}`,
		`{"Operations":[{"op":"replace","path":"phoneNumbers[type eq \"x\" or value co \"1\"]","value":{"value":"2"}}]}`,
		`{"Operations":[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":["x"]}}}]}`,
		`{"Operations":[{"op":"replace","value":{"name.familyName":"x","urn:ietf:params:scim:schemas:core:2.0:User:displayName":"y"}}]}`,
		`{"Operations":[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"department":"x"}}]}`,
		`{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"Division":"y"}}]}`,
		`{"Operations":[{"op":"remove","path":"members[value sw \"x\" or display co \"y\"]"},{"op":"add","path":"members","value":[]}]}`,
		`{"Operations":[{"op":"remove","path":"active"}]}`,
		`{"Operations":[{"op":"replace","path":"emails[type eq work].value","value":"a@b"}]}`,
		`{"Operations":[{"op":"add","value":{"displayName":"a","DisplayName":"b"}}]}`,
		`{"Operations":null}`, `[]`, `{"Operations":[{"op":1}]}`, `{"Operations":[{"op":"add","path":"]["}]}`,
	} {
		f.Add(seed)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer d.Close()
	d.SetSCIMEnabled(ctx, true, "fuzz")
	_, token, _ := d.CreateToken(ctx, "fuzz", 0, "fuzz")
	h := New(d, Config{Addr: "127.0.0.1:0"}).Handler()
	call := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://scim.test/scim/v2"+path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	user := call("POST", "/Users", `{"userName":"fuzz@example.com","emails":[{"value":"a@b","type":"work"}]}`)
	group := call("POST", "/Groups", `{"displayName":"fuzz"}`)
	var u, g map[string]any
	json.Unmarshal(user.Body.Bytes(), &u)
	json.Unmarshal(group.Body.Bytes(), &g)
	if u["id"] == nil || g["id"] == nil {
		f.Fatalf("setup failed: %s %s", user.Body, group.Body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/Users/" + u["id"].(string), "/Groups/" + g["id"].(string)} {
			rec := call("PATCH", path, body)
			if rec.Code >= 500 {
				t.Fatalf("PATCH %s %q: %d %s", path, body, rec.Code, rec.Body)
			}
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Fatalf("PATCH %q: non-JSON answer %d %s", body, rec.Code, rec.Body)
			}
			if rec.Code >= 400 && m["schemas"] == nil {
				t.Fatalf("PATCH %q: non-SCIM error %s", body, rec.Body)
			}
			if rec.Code == http.StatusOK && m["id"] == nil {
				t.Fatalf("PATCH %q: 200 without a resource", body)
			}
		}
	})
}
