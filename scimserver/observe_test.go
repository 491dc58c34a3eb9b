package scimserver

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"scimdesk/internal/testtool"
)

func TestRequestResource(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/scim/v2/Users", ResourceUsers},
		{"/scim/v2/Users/", ResourceUsers},
		{"/scim/v2/Users/2819c223-7f76-453a-919d-413861904646", ResourceUsers},
		{"/scim/v2/Users/.search", ResourceSearch},
		{"/scim/v2/Groups", ResourceGroups},
		{"/scim/v2/Groups/abc", ResourceGroups},
		{"/scim/v2/Groups/.search", ResourceSearch},
		{"/scim/v2/.search", ResourceSearch},
		{"/scim/v2/ServiceProviderConfig", ResourceDiscovery},
		{"/scim/v2/ResourceTypes", ResourceDiscovery},
		{"/scim/v2/ResourceTypes/User", ResourceDiscovery},
		{"/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", ResourceDiscovery},
		{"/setup/v1/redeem", ResourceSetup},
		{"/setup/v1", ResourceSetup},
		{"/setup/v10", ResourceOther},
		{"/scim/v2", ResourceOther},
		{"/scim/v2/", ResourceOther},
		{"/scim/v2/Userz", ResourceOther},
		{"/scim/v2/.search/more", ResourceOther},
		{"/scim/v2/ServiceProviderConfig/x", ResourceOther},
		{"/healthz", ResourceOther},
		{"/", ResourceOther},
		{"/scim/v1/Users", ResourceOther},
	} {
		if got := requestResource(tc.path); got != tc.want {
			t.Errorf("requestResource(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
	for m, want := range map[string]string{"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH",
		"DELETE": "DELETE", "OPTIONS": MethodOther, "get": MethodOther, "BREW": MethodOther} {
		if got := requestMethod(m); got != want {
			t.Errorf("requestMethod(%q) = %q, want %q", m, got, want)
		}
	}
}

// observed is a RequestObserver that keeps what it is told.
type observed struct {
	mu  sync.Mutex
	got []string
}

func (o *observed) ObserveRequest(resource, method string, status int, elapsed time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, resource+" "+method+" "+itoa(status))
}

// TestRequestIDsInJSONLog serves with a JSON log and checks that every response carries
// an X-Request-Id, that every line logged for a request parses and carries the id its
// response carried, that a plain incoming id is kept and any other ignored, that the
// observer hears of each request once, and that no secret reaches the log.
func TestRequestIDsInJSONLog(t *testing.T) {
	out := &testtool.SyncBuffer{}
	obs := &observed{}
	srv, secret := startLogged(t, out, Config{Logger: slog.New(slog.NewJSONHandler(out, nil)), Observer: obs}, nil)
	const wrongToken = "scim_wrongwrongwrongwrongwrongwrongwrongwrongw"
	do := func(method, path, token, reqID string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.BaseURL()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if reqID != "" {
			req.Header.Set("X-Request-Id", reqID)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, res.Header.Get("X-Request-Id")
	}
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	failed := map[string]int{} // request id → status, of every failed request
	seen := map[string]bool{}
	for _, r := range []struct {
		method, path, token, id string
		status                  int
		keep                    bool // the incoming id must come back
	}{
		{"GET", "/scim/v2/Users", secret, "", 200, false},
		{"GET", "/scim/v2/Users", "", "", 401, false},
		{"GET", "/scim/v2/Users", wrongToken, "", 401, false},
		{"GET", "/nowhere", "", "", 404, false},
		{"GET", "/scim/v2/Users?filter=userName+zz+%22x%22", secret, "", 400, false},
		{"GET", "/scim/v2/Users/nobody", secret, "edge-7f3a.b_C", 404, true},
		{"GET", "/scim/v2/Users/nobody", secret, "has space", 404, false},
		{"GET", "/scim/v2/Users/nobody", secret, "x\"}{injected", 404, false},
		{"GET", "/scim/v2/Users/nobody", secret, strings.Repeat("a", 65), 404, false},
	} {
		status, id := do(r.method, r.path, r.token, r.id)
		if status != r.status {
			t.Errorf("%s %s: %d, want %d", r.method, r.path, status, r.status)
		}
		switch {
		case r.keep && id != r.id:
			t.Errorf("incoming id %q came back as %q", r.id, id)
		case !r.keep && !generated.MatchString(id):
			t.Errorf("%s %s with incoming id %q: X-Request-Id %q, want a new 16-hex-digit id", r.method, r.path, r.id, id)
		}
		if seen[id] {
			t.Errorf("request id %q given twice", id)
		}
		seen[id] = true
		if status >= 400 {
			failed[id] = status
		}
	}

	logged := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %v\n%s", err, line)
		}
		if rec["msg"] != "request failed" {
			continue
		}
		id, _ := rec["request_id"].(string)
		status, ok := failed[id]
		if !ok {
			t.Errorf("a request's line carries request_id %q, which no response carried: %s", id, line)
			continue
		}
		if rec["status"] != float64(status) {
			t.Errorf("the line of request %s says status %v, its response %d", id, rec["status"], status)
		}
		logged[id]++
	}
	for id := range failed {
		if logged[id] != 1 {
			t.Errorf("request %s: %d lines, want 1", id, logged[id])
		}
	}
	log := out.String()
	for _, s := range []string{secret, wrongToken, "Bearer", "Authorization", "injected"} {
		if strings.Contains(log, s) {
			t.Errorf("the log contains %q", s)
		}
	}

	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []string{"Users GET 200", "Users GET 401", "Users GET 401", "other GET 404", "Users GET 400",
		"Users GET 404", "Users GET 404", "Users GET 404", "Users GET 404"}
	if strings.Join(obs.got, ", ") != strings.Join(want, ", ") {
		t.Errorf("observer heard\n%v\nwant\n%v", obs.got, want)
	}
}

// TestPanicKeepsRequestID checks that a request whose handler panics is answered 500
// with its X-Request-Id, observed as a 500, and that both lines logged for it (the panic
// and the failed request) carry its id.
func TestPanicKeepsRequestID(t *testing.T) {
	out := &testtool.SyncBuffer{}
	obs := &observed{}
	srv := New(nil, Config{Logger: slog.New(slog.NewJSONHandler(out, nil)), Observer: obs})
	h := srv.logged(srv.recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/scim/v2/Groups/x", nil))
	id := rec.Header().Get("X-Request-Id")
	if rec.Code != 500 || id == "" {
		t.Fatalf("status %d, request id %q", rec.Code, id)
	}
	msgs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		if r["request_id"] != id {
			t.Errorf("line without the request's id %s: %.200s", id, line)
		}
		msgs[r["msg"].(string)] = true
	}
	if !msgs["panic serving request"] || !msgs["request failed"] {
		t.Errorf("lines logged: %v", msgs)
	}
	if strings.Join(obs.got, ",") != "Groups GET 500" {
		t.Errorf("observer heard %v", obs.got)
	}
}
