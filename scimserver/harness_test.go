package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testpg"
	"scimdesk/internal/teststore"
)

// testEnv is a real server on 127.0.0.1:0 over a real database: a SQLite file in a temp
// dir (newEnv), or one of each engine (newEnvOn).
type testEnv struct {
	t     *testing.T
	db    *db.DB
	srv   *Server
	url   string // SCIM base URL
	token string
	vars  map[string]string
	// unavailableOK lets a test expect 503 (the database cut off); any other 5xx is still
	// an error.
	unavailableOK bool
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	return newEnvOn(t, teststore.Engines[0])
}

func newEnvOn(t testing.TB, engine teststore.Engine) *testEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := db.Open(ctx, engine.Location(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetSCIMEnabled(ctx, true, "test"); err != nil {
		t.Fatal(err)
	}
	_, secret, err := d.CreateToken(ctx, "test", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(d, Config{Addr: "127.0.0.1:0", HeartbeatEvery: 100 * time.Millisecond})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		d.Close()
	})
	tt, _ := t.(*testing.T)
	return &testEnv{t: tt, db: d, srv: srv, url: srv.SCIMURL(), token: secret, vars: map[string]string{}}
}

// response is a decoded reply.
type response struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

var varRef = regexp.MustCompile(`\$\{(\w+)\}`)

// expand replaces ${name} with values saved from earlier responses.
func (e *testEnv) expand(s string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := e.vars[name]
		if !ok {
			e.t.Fatalf("no saved value %q", name)
		}
		return v
	})
}

func (e *testEnv) do(method, path, body string, hdr ...string) response {
	e.t.Helper()
	return e.doToken(e.token, method, path, body, hdr...)
}

func (e *testEnv) doToken(token, method, path, body string, hdr ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(e.expand(body))
	}
	req, err := http.NewRequest(method, e.url+e.expand(path), rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], e.expand(hdr[i+1]))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.json); err != nil {
			e.t.Fatalf("%s %s: response is not a JSON object: %v\n%s", method, path, err, raw)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/scim+json" {
			e.t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
	}
	if res.StatusCode >= 400 {
		checkErrorBody(e.t, method+" "+path, r)
	}
	if res.StatusCode >= 500 && !(e.unavailableOK && res.StatusCode == http.StatusServiceUnavailable) {
		e.t.Errorf("%s %s: server error %d: %s", method, path, res.StatusCode, raw)
	}
	return r
}

// checkErrorBody asserts the RFC 7644 §3.12 error shape.
func checkErrorBody(t *testing.T, what string, r response) {
	t.Helper()
	if r.json == nil {
		t.Errorf("%s: error %d without a body", what, r.status)
		return
	}
	if got := fmt.Sprint(r.json["schemas"]); got != "["+URNError+"]" {
		t.Errorf("%s: error schemas = %s", what, got)
	}
	if s, ok := r.json["status"].(string); !ok || s != strconv.Itoa(r.status) {
		t.Errorf("%s: error status field = %#v, want the string %q", what, r.json["status"], strconv.Itoa(r.status))
	}
	if d, _ := r.json["detail"].(string); d == "" {
		t.Errorf("%s: error without detail", what)
	}
}

// get reads a value out of decoded JSON by a dotted path; list elements by index
// ("Resources.0.id") or by a filter on a key ("emails[type=work].value").
func get(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, part := range splitPath(path) {
		switch x := v.(type) {
		case map[string]any:
			val, ok := x[part]
			if !ok {
				return nil, false
			}
			v = val
		case []any:
			if k, want, ok := parseSel(part); ok {
				found := false
				for _, el := range x {
					if m, ok := el.(map[string]any); ok && fmt.Sprint(m[k]) == want {
						v, found = el, true
						break
					}
				}
				if !found {
					return nil, false
				}
				continue
			}
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// splitPath splits on dots outside brackets; a URN key is written in brackets: "<urn>".
func splitPath(p string) []string {
	var out []string
	var cur strings.Builder
	depth := 0
	for _, r := range p {
		switch {
		case r == '<' || r == '[':
			depth++
		case r == '>' || r == ']':
			depth--
		case r == '.' && depth == 0:
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		if r != '<' && r != '>' {
			cur.WriteRune(r)
		}
	}
	return append(out, cur.String())
}

func parseSel(part string) (key, want string, ok bool) {
	if !strings.HasPrefix(part, "[") || !strings.HasSuffix(part, "]") {
		return "", "", false
	}
	k, v, ok := strings.Cut(part[1:len(part)-1], "=")
	return k, v, ok
}

// expect checks path -> want (compared as fmt.Sprint, or "<absent>").
func (r response) expect(t *testing.T, what string, want map[string]any) {
	t.Helper()
	for path, w := range want {
		got, ok := get(any(r.json), path)
		if w == "<absent>" {
			if ok {
				t.Errorf("%s: %s = %v, want it absent", what, path, got)
			}
			continue
		}
		if w == "<present>" {
			if !ok {
				t.Errorf("%s: %s absent, want it present\n%s", what, path, r.raw)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: %s absent, want %v\n%s", what, path, w, r.raw)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s: %s = %v, want %v\n%s", what, path, got, w, r.raw)
		}
	}
}

func jsonBody(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func compact(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return s
	}
	return b.String()
}

// TestMain removes the benchmarks' seeded databases and stops the PostgreSQL cluster the
// tests may have started for themselves.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range benchDirs {
		os.RemoveAll(dir)
	}
	testpg.Stop()
	os.Exit(code)
}
