package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"scimdesk/db"
	"scimdesk/scimserver"
)

// env is a real SCIM server on 127.0.0.1:0 over a real SQLite file, with the metrics as
// its observer and served on a listener of their own.
type env struct {
	t       *testing.T
	db      *db.DB
	m       *Metrics
	scimURL string
	metrics string // URL of /metrics
	token   string
}

func start(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "scim.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetSCIMEnabled(ctx, true, "test"); err != nil {
		t.Fatal(err)
	}
	_, secret, err := d.CreateToken(ctx, "idp", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	// A scrape must see every change at once here; the cache is tested on its own.
	m := New(d, Options{CacheFor: time.Nanosecond})
	m.db.costFactor = 0
	srv := scimserver.New(d, scimserver.Config{Addr: "127.0.0.1:0", HeartbeatEvery: 50 * time.Millisecond, Observer: m})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ep, err := m.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served, scraped := make(chan error, 1), make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	go func() { scraped <- ep.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := <-scraped; err != nil {
			t.Errorf("serve metrics: %v", err)
		}
		d.Close()
	})
	return &env{t: t, db: d, m: m, scimURL: srv.SCIMURL(), metrics: "http://" + ep.Addr() + "/metrics", token: secret}
}

// do makes a SCIM request with the given token and returns the status.
func (e *env) do(method, path, token, body string) int {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.scimURL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// scrape fetches /metrics over HTTP as Prometheus does and parses the text format.
func (e *env) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	res, err := http.Get(e.metrics)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		e.t.Fatalf("GET /metrics: %s", res.Status)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		e.t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		e.t.Fatalf("the exposition does not parse: %v", err)
	}
	return fams
}

// value is the value of the series of family name with exactly these labels (a counter,
// a gauge, or a histogram's count); ok is false when there is no such series.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(want) {
			continue
		}
		for _, l := range m.Label {
			if want[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func (e *env) want(fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	e.t.Helper()
	got, ok := value(fams, name, labels...)
	if !ok {
		e.t.Errorf("%s%v: no such series", name, labels)
		return
	}
	if got != want {
		e.t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

const userBody = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","emails":[{"value":"ada@example.com","primary":true}],"active":true}`

// TestCountersMoveWithRequests creates a user over HTTP and sees the request counter, the
// latency histogram, users by status, setup codes and the last identity-provider request
// move in the scraped exposition.
func TestCountersMoveWithRequests(t *testing.T) {
	e := start(t)
	before := e.scrape()
	e.want(before, 0, "scimdesk_users", "status", "pending")
	e.want(before, 0, "scimdesk_groups")
	e.want(before, 0, "scimdesk_setup_codes_outstanding")
	e.want(before, 1, "scimdesk_db_stats_ok")
	if _, ok := value(before, "scimdesk_http_requests_total", "resource", "Users", "method", "POST", "code", "201"); ok {
		t.Fatal("a create was counted before any was made")
	}
	if _, ok := value(before, "scimdesk_last_idp_request_timestamp_seconds"); ok {
		t.Fatal("a last identity-provider request before any request")
	}

	t0 := time.Now()
	if st := e.do("POST", "/Users", e.token, userBody); st != 201 {
		t.Fatalf("create user: %d", st)
	}
	if st := e.do("POST", "/Groups", e.token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"ops"}`); st != 201 {
		t.Fatalf("create group: %d", st)
	}
	if st := e.do("GET", "/Users?filter=userName+eq+%22ada@example.com%22", e.token, ""); st != 200 {
		t.Fatalf("list: %d", st)
	}
	if st := e.do("GET", "/Users", "scim_wrong", ""); st != 401 {
		t.Fatalf("wrong token: %d", st)
	}
	if st := e.do("GET", "/ServiceProviderConfig", e.token, ""); st != 200 {
		t.Fatalf("discovery: %d", st)
	}
	u, err := e.db.UserByEmail(context.Background(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.IssueSetupCode(context.Background(), u.ID, db.PurposeSetup, "test"); err != nil {
		t.Fatal(err)
	}

	after := e.scrape()
	e.want(after, 1, "scimdesk_http_requests_total", "resource", "Users", "method", "POST", "code", "201")
	e.want(after, 1, "scimdesk_http_requests_total", "resource", "Groups", "method", "POST", "code", "201")
	e.want(after, 1, "scimdesk_http_requests_total", "resource", "Users", "method", "GET", "code", "200")
	e.want(after, 1, "scimdesk_http_requests_total", "resource", "Users", "method", "GET", "code", "401")
	e.want(after, 1, "scimdesk_http_requests_total", "resource", "discovery", "method", "GET", "code", "200")
	e.want(after, 2, "scimdesk_http_request_duration_seconds", "resource", "Users", "method", "GET")
	e.want(after, 1, "scimdesk_http_request_duration_seconds", "resource", "Users", "method", "POST")
	e.want(after, 1, "scimdesk_users", "status", "pending")
	e.want(after, 0, "scimdesk_users", "status", "ready")
	e.want(after, 0, "scimdesk_users", "status", "deactivated")
	e.want(after, 1, "scimdesk_groups")
	e.want(after, 1, "scimdesk_setup_codes_outstanding")
	// The token's last use is written with the server's heartbeat (every 50 ms here).
	var last float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var ok bool
		if last, ok = value(e.scrape(), "scimdesk_last_idp_request_timestamp_seconds"); ok || time.Now().After(deadline) {
			break
		}
	}
	if last < float64(t0.UnixMilli())/1000 || last > float64(time.Now().Unix()+1) {
		t.Errorf("last identity-provider request at %v, want between %v and now", last, float64(t0.UnixMilli())/1000)
	}

	// Writes went through the writer: its histograms count them.
	batches, _ := value(after, "scimdesk_writer_hold_seconds")
	sizes := after["scimdesk_writer_batch_size"].GetMetric()[0].GetHistogram()
	if batches < 2 || sizes.GetSampleCount() != uint64(batches) || sizes.GetSampleSum() < batches {
		t.Errorf("writer: %v batches held, batch sizes %d batches summing to %v writes", batches, sizes.GetSampleCount(), sizes.GetSampleSum())
	}
	if size, _ := value(after, "scimdesk_db_size_bytes"); size <= 0 {
		t.Errorf("database size %v", size)
	}
	if _, ok := value(after, "scimdesk_wal_size_bytes"); !ok {
		t.Error("no WAL size")
	}
	if _, ok := value(after, "go_goroutines"); !ok {
		t.Error("no Go runtime metrics")
	}

	// Deactivating moves the user from pending to deactivated.
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	if st := e.do("PATCH", "/Users/"+u.ID, e.token, patch); st != 200 {
		t.Fatalf("deactivate: %d", st)
	}
	again := e.scrape()
	e.want(again, 0, "scimdesk_users", "status", "pending")
	e.want(again, 1, "scimdesk_users", "status", "deactivated")
	e.want(again, 1, "scimdesk_http_requests_total", "resource", "Users", "method", "PATCH", "code", "200")

	if problems, err := testutil.GatherAndLint(e.m.Registry()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

// TestTokensByStateAndEarliestExpiry makes a token in each state and checks the counts
// and that the earliest expiry is that of a token still accepted (not a revoked one that
// would have expired sooner, not one already expired).
func TestTokensByStateAndEarliestExpiry(t *testing.T) {
	e := start(t) // its own token: active, never expires
	ctx := context.Background()
	expiring, _, err := e.db.CreateToken(ctx, "expiring", 3*24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.CreateToken(ctx, "later", 60*24*time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	revoked, _, err := e.db.CreateToken(ctx, "revoked", 24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.RevokeToken(ctx, revoked.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.CreateToken(ctx, "expired", time.Millisecond, "test"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // past the millisecond token's expiry

	fams := e.scrape()
	e.want(fams, 2, "scimdesk_tokens", "state", "active")
	e.want(fams, 1, "scimdesk_tokens", "state", "expiring")
	e.want(fams, 1, "scimdesk_tokens", "state", "expired")
	e.want(fams, 1, "scimdesk_tokens", "state", "revoked")
	got, ok := value(fams, "scimdesk_token_earliest_expiry_timestamp_seconds")
	want := float64(expiring.Expires.UnixMilli()) / 1000
	if !ok || math.Abs(got-want) > 0.001 {
		t.Errorf("earliest expiry %v (present %v), want %v (%s)", got, ok, want, expiring.Expires)
	}

	if err := e.db.RevokeToken(ctx, expiring.ID, "test"); err != nil {
		t.Fatal(err)
	}
	fams = e.scrape()
	e.want(fams, 0, "scimdesk_tokens", "state", "expiring")
	e.want(fams, 2, "scimdesk_tokens", "state", "revoked")
	if got, _ := value(fams, "scimdesk_token_earliest_expiry_timestamp_seconds"); got <= want {
		t.Errorf("earliest expiry %v after revoking the token expiring at %v", got, want)
	}
}

// TestLabelsStayBounded sends requests with made-up paths and methods and checks that
// every series has a resource, method and code from the fixed sets.
func TestLabelsStayBounded(t *testing.T) {
	e := start(t)
	for i := range 40 {
		e.do("GET", fmt.Sprintf("/Nonsense%d/x", i), e.token, "")
		e.do(fmt.Sprintf("BREW%d", i), "/Users", e.token, "")
		e.do("GET", fmt.Sprintf("/../../etc/%d", i), "", "")
		// A caller other than scimserver is held to the same sets.
		e.m.ObserveRequest(fmt.Sprintf("Evil%d", i), fmt.Sprintf("BREW%d", i), 1000+i, time.Millisecond)
	}
	fams := e.scrape()
	resources, methods := set(scimserver.Resources), set(scimserver.Methods)
	series := 0
	for _, m := range fams["scimdesk_http_requests_total"].GetMetric() {
		series++
		for _, l := range m.Label {
			switch l.GetName() {
			case "resource":
				if !resources[l.GetValue()] {
					t.Errorf("resource %q is not in the fixed set", l.GetValue())
				}
			case "method":
				if !methods[l.GetValue()] {
					t.Errorf("method %q is not in the fixed set", l.GetValue())
				}
			}
		}
	}
	if series == 0 || series > 6 {
		t.Errorf("%d request series after 160 distinct hostile requests", series)
	}
	e.want(fams, 40, "scimdesk_http_requests_total", "resource", "other", "method", "other", "code", "other")
	e.want(fams, 80, "scimdesk_http_requests_total", "resource", "other", "method", "GET", "code", "404") // both kinds of made-up paths
	e.want(fams, 40, "scimdesk_http_requests_total", "resource", "Users", "method", "other", "code", "405")
}

func set(ss []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// TestCountsAreCached checks that scrapes within CacheFor reuse one count and that a
// scrape after it counts again.
func TestCountsAreCached(t *testing.T) {
	e := start(t)
	c := newDBCollector(e.db, Options{CacheFor: time.Hour, Timeout: time.Second})
	if n := c.counts(); n.err != nil || n.users.Total() != 0 {
		t.Fatalf("first count: %+v", n)
	}
	if st := e.do("POST", "/Users", e.token, userBody); st != 201 {
		t.Fatalf("create user: %d", st)
	}
	if n := c.counts(); n.users.Total() != 0 {
		t.Errorf("a scrape within the cache time counted again: %d users", n.users.Total())
	}
	c.at = c.at.Add(-2 * time.Hour)
	if n := c.counts(); n.users.Total() != 1 {
		t.Errorf("a scrape after the cache time did not count again: %d users", n.users.Total())
	}

	// A count that took long is reused longer than CacheFor, in proportion.
	c.opts.CacheFor = time.Nanosecond
	c.cost = time.Second // as if the users table were huge
	if st := e.do("POST", "/Users", e.token, strings.Replace(userBody, "ada@", "bob@", 2)); st != 201 {
		t.Fatalf("create user: %d", st)
	}
	if n := c.counts(); n.users.Total() != 1 {
		t.Errorf("an expensive count was repeated at once: %d users", n.users.Total())
	}
	c.at = c.at.Add(-time.Duration(c.costFactor) * time.Second)
	if n := c.counts(); n.users.Total() != 2 {
		t.Errorf("an expensive count was not repeated after %d times its cost: %d users", c.costFactor, n.users.Total())
	}
}

// TestListenRefusesBusyPort checks that a taken port fails in Listen, at once.
func TestListenRefusesBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "scim.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = New(d, Options{}).Listen(ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Fatalf("Listen on a busy port: %v", err)
	}
}

// TestObserveConcurrently counts from many goroutines at once, each status first seen by
// several of them together, while scraping, and checks that no count is lost.
func TestObserveConcurrently(t *testing.T) {
	m := New(nil, Options{})
	const workers, each, statuses = 8, 500, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m.ObserveRequest(scimserver.ResourceUsers, http.MethodGet, 200+(i+w)%statuses, time.Millisecond)
				if i%100 == 0 {
					testutil.CollectAndCount(m.requests) // a scrape alongside
				}
			}
		}()
	}
	wg.Wait()
	byName := map[string]*dto.MetricFamily{}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			byName[f.GetName()] = f
		}
	}
	for s := range statuses {
		got, _ := value(byName, "scimdesk_http_requests_total", "resource", "Users", "method", "GET", "code", fmt.Sprint(200+s))
		if got != workers*each/statuses {
			t.Errorf("status %d counted %v times, want %d", 200+s, got, workers*each/statuses)
		}
	}
	if got, _ := value(byName, "scimdesk_http_request_duration_seconds", "resource", "Users", "method", "GET"); got != workers*each {
		t.Errorf("latency observed %v times, want %d", got, workers*each)
	}
}
