package scimserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/setupapi"
)

// postFrom posts a begin request as if a local reverse proxy forwarded it for addr (the
// test client is on loopback, so the server believes X-Forwarded-For).
func postFrom(t *testing.T, base, addr, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/setup/v1/begin", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

// TestSetupWrongCodeRevealsAndCostsNothing: a stranger who knows a user's email can
// neither tell that the user holds a code nor use up its attempts.
func TestSetupWrongCodeRevealsAndCostsNothing(t *testing.T) {
	se := newSetupEnv(t)
	alice := se.provision("alice", db.PurposeSetup)
	se.provision("bob", "") // a user without any code
	guess := otherCode(t, alice.code)

	answers := map[string]string{}
	for _, email := range []string{alice.email, " ALICE@example.com", "alice", "bob@example.com", "nobody@example.com"} {
		for range db.SetupCodeAttempts + 2 {
			status, raw := postFrom(t, se.base, "198.51.100.7", jsonBody(setupapi.BeginRequest{Email: email, Code: guess, Purpose: "setup"}))
			answers[fmt.Sprintf("%d %s", status, raw)] = email
		}
	}
	if len(answers) != 1 {
		t.Fatalf("a wrong code is answered in %d ways depending on the email: %v", len(answers), answers)
	}
	for a := range answers {
		if !strings.HasPrefix(a, "403 ") || !strings.Contains(a, `"invalid_code"`) || strings.Contains(a, "attempts") {
			t.Fatalf("answer %s", a)
		}
	}
	code, err := se.db.SetupCodeOf(context.Background(), alice.id)
	if err != nil || code.AttemptsLeft != db.SetupCodeAttempts || !code.Usable(se.now) {
		t.Fatalf("strangers' guesses changed alice's code: %+v, %v", code, err)
	}
	if r := se.post(se.base, "/setup/v1/begin", beginBody(alice, "setup")); r.status != http.StatusOK {
		t.Fatalf("alice's own code after the guesses: %d %s", r.status, r.raw)
	}
}

// TestSetupGlobalRateLimit goes through the server's own route and limits: rotating
// X-Forwarded-For gets past the per-address limit, not past the global one.
func TestSetupGlobalRateLimit(t *testing.T) {
	e := newEnv(t)
	base := strings.TrimSuffix(e.url, "/scim/v2")
	body := jsonBody(setupapi.BeginRequest{Email: "x@example.com", Code: otherCode(t, ""), Purpose: "setup"})
	start := time.Now()
	for i := range 2 * setupGlobalBurst {
		status, raw := postFrom(t, base, fmt.Sprintf("203.0.%d.%d", i/250, i%250+1), body)
		if status == http.StatusForbidden {
			continue
		}
		if status != http.StatusTooManyRequests || !strings.Contains(raw, "all clients together") {
			t.Fatalf("request %d: %d %s", i, status, raw)
		}
		// The burst, plus what refilled meanwhile.
		refilled := int(time.Since(start).Seconds()*setupGlobalPerMinute/60) + 1
		if i < setupGlobalBurst || i > setupGlobalBurst+refilled {
			t.Fatalf("the global limit refused request %d (burst %d, %d refilled)", i, setupGlobalBurst, refilled)
		}
		return
	}
	t.Fatalf("%d requests from as many addresses, none refused", 2*setupGlobalBurst)
}

// TestSetupRateLimitIPv6Per64: addresses of one /64 share a bucket; another /64 does not.
func TestSetupRateLimitIPv6Per64(t *testing.T) {
	e := newEnv(t)
	base := strings.TrimSuffix(e.url, "/scim/v2")
	body := jsonBody(setupapi.BeginRequest{Email: "x@example.com", Code: otherCode(t, ""), Purpose: "setup"})
	for i := range setupBurst {
		if status, raw := postFrom(t, base, fmt.Sprintf("2001:db8:1:2::%x", i+1), body); status != http.StatusForbidden {
			t.Fatalf("request %d within the burst: %d %s", i, status, raw)
		}
	}
	status, raw := postFrom(t, base, "2001:db8:1:2:ffff:ffff:ffff:ffff", body)
	if status != http.StatusTooManyRequests || !strings.Contains(raw, "your address") {
		t.Fatalf("a new address in the same /64 after its burst: %d %s", status, raw)
	}
	if status, raw := postFrom(t, base, "2001:db8:1:3::1", body); status != http.StatusForbidden {
		t.Fatalf("another /64: %d %s", status, raw)
	}
}

func TestLimiterKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                   "192.0.2.7",
		"::ffff:192.0.2.7":            "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":        "2001:db8:1:2::/64",
		"2001:db8:1:2::1":             "2001:db8:1:2::/64",
		"fe80::1%eth0":                "fe80::/64",
		"@":                           "@",
		"2001:db8:1:3:ffff::ffff:fff": "2001:db8:1:3::/64",
	} {
		if got := limiterKey(in); got != want {
			t.Errorf("limiterKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRateLimiterBoundedUnderFlood: a flood of addresses that keep their buckets busy
// never grows the map past maxBuckets.
func TestRateLimiterBoundedUnderFlood(t *testing.T) {
	l := newRateLimiter(20, time.Minute, 10)
	now := time.Unix(1000, 0)
	for i := range 3 * maxBuckets {
		key := fmt.Sprint("flood", i)
		l.allow(key, now)
		l.allow(key, now) // spent a little, so not prunable as refilled
		if len(l.buckets) > maxBuckets {
			t.Fatalf("%d buckets after %d addresses", len(l.buckets), i+1)
		}
	}
}

// setPolicy shortens a refusedLog's policy while the server may be flushing it.
func setPolicy(l *refusedLog, window, quiet time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.window, l.quiet = window, quiet
}

// waitSummary waits (up to limit) for a summary event of kind and returns it.
func (se *setupEnv) waitSummary(kind string, limit time.Duration) (db.Event, time.Time, bool) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for _, e := range se.events(kind) {
			if strings.Contains(e.Summary, "more refusals") {
				return e, time.Now(), true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return db.Event{}, time.Now(), false
}

// TestSetupRefusalSummaryOnTime: refusals beyond the per-window budget are summed up in
// the audit log within seconds of the last one, with no further request to trigger it,
// stamped with the last refusal's time and naming its address.
func TestSetupRefusalSummaryOnTime(t *testing.T) {
	t.Run("after a pause", func(t *testing.T) {
		se := newSetupEnv(t) // the server's heartbeat runs every 100 ms
		setPolicy(&se.srv.setupRefused, time.Hour, 300*time.Millisecond)
		body := jsonBody(setupapi.BeginRequest{Email: "x@example.com", Code: otherCode(t, ""), Purpose: "setup"})
		addrs := []string{"192.0.2.1", "192.0.2.2", "2001:db8::9"}
		var before, after time.Time
		for i := range 25 {
			before = time.Now()
			postFrom(t, se.base, addrs[i%3], body)
			after = time.Now()
		}
		e, seen, ok := se.waitSummary("user.key_setup", 3*time.Second)
		if !ok {
			t.Fatal("no summary within 3 s of the last refusal")
		}
		if lag := seen.Sub(after); lag > 2*time.Second {
			t.Errorf("summary %v after the last refusal", lag)
		}
		if e.At.Before(before.Truncate(time.Millisecond)) || e.At.After(after) {
			t.Errorf("summary stamped %v, the last refusal was between %v and %v", e.At, before, after)
		}
		last := addrs[24%3]
		for _, want := range []string{"15 more refusals", "from 3 addresses", "last from " + last, "unknown code", " UTC"} {
			if !strings.Contains(e.Summary, want) {
				t.Errorf("summary %q lacks %q", e.Summary, want)
			}
		}
		if e.Addr != last || !e.Failed() || e.Status != http.StatusForbidden {
			t.Errorf("summary event %+v", e)
		}
		if n := len(se.events("user.key_setup")); n != 11 {
			t.Errorf("%d events, want 10 one by one and 1 summary", n)
		}
	})
	t.Run("at the end of a busy window", func(t *testing.T) {
		se := newSetupEnv(t)
		setPolicy(&se.srv.setupRefused, 400*time.Millisecond, time.Hour)
		body := jsonBody(setupapi.BeginRequest{Email: "x@example.com", Code: otherCode(t, ""), Purpose: "setup"})
		start := time.Now()
		for range 15 {
			postFrom(t, se.base, "192.0.2.1", body)
		}
		e, seen, ok := se.waitSummary("user.key_setup", 3*time.Second)
		if !ok {
			t.Fatal("no summary within 3 s of the window's end")
		}
		if lag := seen.Sub(start); lag > 400*time.Millisecond+2*time.Second {
			t.Errorf("summary %v after the window opened", lag)
		}
		if !strings.Contains(e.Summary, "5 more refusals") || !strings.Contains(e.Summary, "from 1 address,") {
			t.Errorf("summary %q", e.Summary)
		}
	})
}

// TestRefusalSummaryWrittenAtShutdown: refusals still counted when the server stops are
// summed up before it exits, not lost with the process.
func TestRefusalSummaryWrittenAtShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "scim.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := New(d, Config{Addr: "127.0.0.1:0"})
	setPolicy(&srv.setupRefused, time.Hour, time.Hour)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	body := jsonBody(setupapi.BeginRequest{Email: "x@example.com", Code: otherCode(t, ""), Purpose: "setup"})
	for i := range 13 {
		postFrom(t, srv.BaseURL(), fmt.Sprintf("192.0.2.%d", i+1), body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs, err := d.EventsBefore(context.Background(), 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || !strings.Contains(evs[0].Summary, "3 more refusals") || !strings.Contains(evs[0].Summary, "from 3 addresses") {
		t.Fatalf("no summary as the newest event after shutdown: %+v", evs)
	}
}

// TestRateLimiterRefillsAtItsRate: a bucket allows its burst at once, then one request per
// 1/rate, and says exactly how long until the next; an address that waited long enough
// has its whole burst again, never more. Buckets that have refilled are the ones pruned
// when the map is full.
func TestRateLimiterRefillsAtItsRate(t *testing.T) {
	l := newRateLimiter(20, time.Minute, 10) // one every 3 s, 10 at once
	t0 := time.Unix(1000, 0)
	for i := range 10 {
		if ok, _ := l.allow("a", t0); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("a", t0)
	if ok || wait != 3*time.Second {
		t.Fatalf("past the burst: allowed %v, wait %s, want refused and 3s", ok, wait)
	}
	if ok, wait := l.allow("a", t0.Add(time.Second)); ok || wait != 2*time.Second {
		t.Errorf("1 s later: allowed %v, wait %s, want refused and 2s", ok, wait)
	}
	if ok, _ := l.allow("a", t0.Add(3*time.Second)); !ok {
		t.Errorf("3 s later: refused, want one more allowed")
	}
	if ok, _ := l.allow("a", t0.Add(3*time.Second)); ok {
		t.Errorf("3 s later, again: allowed, want refused")
	}
	// An hour later: the burst again, and no more than the burst.
	later := t0.Add(time.Hour)
	for i := range 10 {
		if ok, _ := l.allow("a", later); !ok {
			t.Fatalf("an hour later, request %d of the burst refused", i+1)
		}
	}
	if ok, _ := l.allow("a", later); ok {
		t.Errorf("an hour later, past the burst: allowed")
	}

	// The map full: the buckets that have refilled go, the busy one stays.
	p := newRateLimiter(20, time.Minute, 10)
	p.allow("busy", later)
	for range 10 {
		p.allow("half", later.Add(-15*time.Second)) // spent, then 5 of 10 back by now
	}
	for i := range maxBuckets - 2 {
		p.allow(fmt.Sprint("idle", i), t0)
	}
	for range 9 {
		p.allow("busy", later)
	}
	p.allow("new", later) // the map is full: prune first
	_, idleKept := p.buckets["idle0"]
	_, halfKept := p.buckets["half"]
	if idleKept || !halfKept || len(p.buckets) != 3 {
		t.Errorf("after pruning a full map: %d buckets (idle0 kept: %v, half kept: %v), want busy, half and new", len(p.buckets), idleKept, halfKept)
	}
	if ok, _ := p.allow("busy", later); ok {
		t.Errorf("the busy address got a new burst from the pruning")
	}
}
