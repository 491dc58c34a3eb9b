package scimserver

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"scimdesk/db"
)

// newTokenFor makes a token that has never been used, as the admin does before pasting it
// into an identity provider.
func newTokenFor(t *testing.T, e *testEnv, desc string) (id, secret string) {
	t.Helper()
	tok, secret, err := e.db.CreateToken(context.Background(), desc, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID, secret
}

// eventsSince returns the events newer than id, oldest first.
func eventsSince(t *testing.T, e *testEnv, id int64) []db.Event {
	t.Helper()
	ev, err := e.db.EventsAfter(context.Background(), id, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// lastEventID is the id of the newest event.
func lastEventID(t *testing.T, e *testEnv) int64 {
	t.Helper()
	ev, err := e.db.EventsBefore(context.Background(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) == 0 {
		return 0
	}
	return ev[0].ID
}

func query(filter string, more ...string) string {
	v := url.Values{}
	if filter != "" {
		v.Set("filter", filter)
	}
	for i := 0; i+1 < len(more); i += 2 {
		v.Set(more[i], more[i+1])
	}
	return "?" + v.Encode()
}

// The identity providers' connection tests, as they send them, each give exactly one
// event on the Activity tab, naming the token, the client and the request; the test is
// also the token's first request, which the same event says.
func TestConnectionTestsAreRecordedOnce(t *testing.T) {
	e := newEnv(t)
	e.t = t
	e.do("POST", "/Users", `{"userName":"someone@example.com"}`) // so that a lookup that finds no one is not about an empty server
	okta := "Okta SCIM Client 1.0.0"
	entra := "Microsoft.Identity-Provisioning/1.0"
	cases := []struct {
		name  string
		agent string
		reqs  []string
	}{
		{"Okta Test Connector Configuration", okta, []string{
			"/Users" + query("", "startIndex", "1", "count", "1"),
			"/Users" + query(`userName eq "9f0c2a7e-okta-random@example.com"`, "startIndex", "1", "count", "1"),
			"/ServiceProviderConfig",
		}},
		{"a read of no rows", okta, []string{
			"/Users" + query("", "count", "0"),
		}},
		{"Entra ID Test Connection", entra, []string{
			"/Users" + query(`userName eq "3b2e0f8c-5d4a-4e61-9a7b-0c1d2e3f4a5b"`),
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			tokID, secret := newTokenFor(t, e, c.name)
			before := lastEventID(t, e)
			for _, p := range c.reqs {
				if r := e.doToken(secret, "GET", p, "", "User-Agent", c.agent); r.status != 200 {
					t.Fatalf("GET %s: %d %s", p, r.status, r.raw)
				}
			}
			ev := eventsSince(t, e, before)
			if len(ev) != 1 {
				t.Fatalf("%d events for one connection test, want 1: %+v", len(ev), ev)
			}
			got := ev[0]
			if got.Kind != "scim.test" || got.TokenID != tokID || got.Agent != c.agent || got.Outcome != db.OutcomeOK ||
				got.Status != 200 || got.Addr != "127.0.0.1" {
				t.Errorf("the event does not say who tested what: %+v", got)
			}
			if want := "GET /Users?"; len(got.Subject) < len(want) || got.Subject[:len(want)] != want {
				t.Errorf("subject %q does not name the request", got.Subject)
			}
			if c.agent == entra && got.Subject != `GET /Users?filter=userName eq "3b2e0f8c-5d4a-4e61-9a7b-0c1d2e3f4a5b"` {
				t.Errorf("subject %q: want the request as sent, its query decoded", got.Subject)
			}
			if !strings.Contains(got.Summary, "connection test") || !strings.Contains(got.Summary, "first request with this token") {
				t.Errorf("summary %q", got.Summary)
			}

			// A minute later the admin tests again: recorded again, no longer as a first use.
			e.srv.probes.mu.Lock()
			e.srv.probes.last[tokID] = time.Now().Add(-probeEvery)
			e.srv.probes.mu.Unlock()
			before = lastEventID(t, e)
			e.doToken(secret, "GET", c.reqs[0], "", "User-Agent", c.agent)
			ev = eventsSince(t, e, before)
			if len(ev) != 1 || ev[0].Kind != "scim.test" || strings.Contains(ev[0].Summary, "first request") {
				t.Errorf("a second test a minute later: %+v", ev)
			}
		})
	}
}

// The first request of a token that only reads (a lookup) is recorded once, however many
// come at once; later reads are not.
func TestFirstReadOfATokenIsRecorded(t *testing.T) {
	e := newEnv(t)
	e.t = t
	id := e.do("POST", "/Users", `{"userName":"ann@example.com"}`).json["id"].(string)
	tokID, secret := newTokenFor(t, e, "okta")
	before := lastEventID(t, e)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { e.doToken(secret, "GET", "/Users/"+id, "", "User-Agent", "Okta SCIM Client 1.0.0") })
	}
	wg.Wait()
	ev := eventsSince(t, e, before)
	if len(ev) != 1 || ev[0].Kind != "token.first-use" || ev[0].TokenID != tokID || ev[0].Subject != "GET /Users/"+id {
		t.Fatalf("events for a token's first reads: %+v", ev)
	}
	// A second token's first read is its own first use; the first token's next read,
	// after it, is none.
	tokB, secretB := newTokenFor(t, e, "entra")
	before = lastEventID(t, e)
	e.doToken(secretB, "GET", "/Users/"+id, "", "User-Agent", "Okta SCIM Client 1.0.0")
	e.doToken(secret, "GET", "/Users/"+id, "", "User-Agent", "Okta SCIM Client 1.0.0")
	ev = eventsSince(t, e, before)
	if len(ev) != 1 || ev[0].Kind != "token.first-use" || ev[0].TokenID != tokB {
		t.Fatalf("events for a second token's first read and the first token's next: %+v", ev)
	}
	// A lookup that finds someone is a read, not a connection test.
	tokD, secretD := newTokenFor(t, e, "looker")
	before = lastEventID(t, e)
	e.doToken(secretD, "GET", "/Users"+query(`userName eq "ann@example.com"`), "", "User-Agent", "Microsoft.Identity-Provisioning/1.0")
	ev = eventsSince(t, e, before)
	if len(ev) != 1 || ev[0].Kind != "token.first-use" || ev[0].TokenID != tokD {
		t.Fatalf("events for a first lookup that finds someone: %+v", ev)
	}
	// A page of several rows is a read, not a connection test.
	tokC, secretC := newTokenFor(t, e, "reader")
	before = lastEventID(t, e)
	e.doToken(secretC, "GET", "/Users"+query("", "count", "5"), "", "User-Agent", "Okta SCIM Client 1.0.0")
	ev = eventsSince(t, e, before)
	if len(ev) != 1 || ev[0].Kind != "token.first-use" || ev[0].TokenID != tokC {
		t.Fatalf("events for a first read of a page of 5: %+v", ev)
	}
}

// Connection tests by one token are recorded at most once per probeEvery: one exactly
// that long after the last is recorded again.
func TestConnectionTestInterval(t *testing.T) {
	var l probeLog
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {probeEvery - time.Millisecond, false}, {probeEvery, true}, {probeEvery + time.Second, false}} {
		if got := l.allowTest("tok", t0.Add(c.at)); got != c.want {
			t.Errorf("a test %s after the first: recorded %v, want %v", c.at, got, c.want)
		}
	}
}

// A storm of reads, lookups and connection-test-shaped requests alike, adds at most the
// token's first use and one connection test to the audit log, and takes the single writer
// for none of them.
func TestReadStormIsNotLogged(t *testing.T) {
	e := newEnv(t)
	e.t = t
	id := e.do("POST", "/Users", `{"userName":"ann@example.com"}`).json["id"].(string)
	_, secret := newTokenFor(t, e, "storm")
	paths := []string{
		"/Users" + query(`userName eq "ann@example.com"`, "startIndex", "1", "count", "100"),
		"/Users" + query(`userName eq "nobody@example.com"`),
		"/Users" + query("", "startIndex", "1", "count", "1"),
		"/Users/" + id,
		"/ServiceProviderConfig",
		"/Groups" + query("", "excludedAttributes", "members"),
	}
	before := lastEventID(t, e)
	writes, began := e.db.WriterStats().Writes, time.Now()
	const n = 1000
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				e.doToken(secret, "GET", paths[i%len(paths)], "", "User-Agent", "Okta SCIM Client 1.0.0")
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if ev := eventsSince(t, e, before); len(ev) > 2 {
		t.Errorf("%d reads added %d events, want at most 2 (the first use, one test): %+v", n, len(ev), ev[:min(len(ev), 5)])
	}
	// The heartbeat (every 100 ms here) writes meanwhile, with the tokens' last use: two
	// writes a beat, however slow the machine; a write per read would be a thousand.
	beats := int64(time.Since(began)/(100*time.Millisecond)) + 1
	if w := e.db.WriterStats().Writes - writes; w > 2*beats+n/50 {
		t.Errorf("%d reads took the writer %d times in %d heartbeats", n, w, beats)
	}
}
