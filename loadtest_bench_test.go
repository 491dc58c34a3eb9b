package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testpg"
	"scimdesk/scimserver"
)

// BenchmarkLoad is issue 11's load test: the SCIM requests an identity provider sends most,
// driven by many concurrent keep-alive clients on 127.0.0.1, against each store and
// against the ceiling of this machine, all in one run so that the ratios mean something
// on a shared, noisy machine.
//
// Targets:
//   - bare: a net/http handler in this process answering a fixed JSON user (the ceiling);
//   - sqlite: the real `scimdesk serve` binary on a SQLite file;
//   - postgres: the real binary on a PostgreSQL database of its own (testpg);
//   - postgres-2: two real instances on one PostgreSQL database, each client alternating
//     between them request by request, as behind a load balancer;
//   - sqlite-inproc, sqlite-inproc-nocache: the server in this process (scimserver.New
//     over db.Open) on one SQLite file, with the authentication cache and without it
//     (db.WithoutAuthCache): the binary has no switch for the cache, so what the cache
//     saves is measured here, against the bare handler served the same way.
//
// Scenarios: lookup (GET /Users?filter=userName eq "…", what Okta sends before each
// create), get (GET /Users/{id}), create (POST /Users) and patch (PATCH replacing active
// and displayName). Each reports req/s and the p50 and p99 latency in ms; every answer's
// status is checked (and a lookup's count), and any wrong one fails the benchmark.
//
//	go test -run '^$' -bench BenchmarkLoad -benchtime 5s .
//
// SCIMDESK_LOAD_CLIENTS sets the number of clients (32), SCIMDESK_LOAD_USERS the users
// seeded in each store (10,000). The PostgreSQL targets skip, saying why, where testpg
// has no server (see package testpg).
func BenchmarkLoad(b *testing.B) {
	clients := envInt(b, "SCIMDESK_LOAD_CLIENTS", 32)
	users := envInt(b, "SCIMDESK_LOAD_USERS", 10_000)
	b.Run("bare", func(b *testing.B) {
		runLoad(b, loadTarget{bases: []string{bareServer(b)}, token: "none", users: users}, clients, true)
	})
	b.Run("sqlite", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "load.db")
		tgt := servedSeeded(b, path, users, 1)
		checkSeedDoc(b, path, tgt)
		runLoad(b, tgt, clients, false)
	})
	b.Run("postgres", func(b *testing.B) {
		dsn := testpg.DSN(b)
		tgt := servedSeeded(b, dsn, users, 1)
		checkSeedDoc(b, dsn, tgt)
		runLoad(b, tgt, clients, false)
	})
	b.Run("postgres-2", func(b *testing.B) {
		runLoad(b, servedSeeded(b, testpg.DSN(b), users, 2), clients, false)
	})
	// One seeded file for both in-process runs, served by one at a time.
	var inproc struct {
		once sync.Once
		path string
		tgt  loadTarget
	}
	for _, v := range []struct {
		name string
		opts []db.Option
	}{
		{"sqlite-inproc", nil},
		{"sqlite-inproc-nocache", []db.Option{db.WithoutAuthCache()}},
	} {
		b.Run(v.name, func(b *testing.B) {
			inproc.once.Do(func() {
				dir, err := os.MkdirTemp("", "scimdesk-load-")
				if err != nil {
					b.Fatal(err)
				}
				// Outlives this sub-benchmark: the parent removes it.
				inproc.path = filepath.Join(dir, "load.db")
				inproc.tgt = seedStore(b, inproc.path, users)
			})
			if inproc.path == "" {
				b.Fatal("seeding failed in an earlier run")
			}
			tgt := inproc.tgt
			tgt.bases = []string{serveInProcess(b, inproc.path, v.opts...)}
			runLoad(b, tgt, clients, true)
		})
	}
	if inproc.path != "" {
		os.RemoveAll(filepath.Dir(inproc.path))
	}
}

// loadTarget is what the clients drive: one or more SCIM base URLs serving one store, the
// token, and the users seeded there (ids[i] is user i's id; nil for the bare handler).
type loadTarget struct {
	name    string
	bases   []string
	token   string
	users   int
	ids     []string
	created *atomic.Int64 // creates so far, to keep new userNames unique across runs
	sent    *atomic.Int64 // requests so far, to spread them over the users across runs
	hc      *http.Client  // its own keep-alive connections, kept from one run to the next
}

// prepare gives the target its counters and its clients' connection pool.
func (tgt *loadTarget) prepare(clients int) {
	tgt.created, tgt.sent = new(atomic.Int64), new(atomic.Int64)
	tgt.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 2 * clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, IdleConnTimeout: time.Minute}}
}

// loadScenario is one kind of request; req makes the i-th one sent to tgt.
type loadScenario struct {
	name  string
	write bool
	req   func(tgt *loadTarget, i int) (method, path, body string, want int)
}

var loadScenarios = []loadScenario{
	{"lookup", false, func(tgt *loadTarget, i int) (string, string, string, int) {
		return "GET", "/Users?filter=userName+eq+%22" + seedName(pick(i, tgt.users)) + "%22", "", http.StatusOK
	}},
	{"get", false, func(tgt *loadTarget, i int) (string, string, string, int) {
		id := "x"
		if tgt.ids != nil {
			id = tgt.ids[pick(i, tgt.users)]
		}
		return "GET", "/Users/" + id, "", http.StatusOK
	}},
	{"create", true, func(tgt *loadTarget, i int) (string, string, string, int) {
		n := tgt.created.Add(1)
		return "POST", "/Users", string(userJSON(fmt.Sprintf("new%08d@example.com", n), int(n))), http.StatusCreated
	}},
	{"patch", true, func(tgt *loadTarget, i int) (string, string, string, int) {
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":` +
			strconv.FormatBool(i%2 == 0) + `,"displayName":"Patched ` + strconv.Itoa(i) + `"}}]}`
		return "PATCH", "/Users/" + tgt.ids[pick(i, tgt.users)], body, http.StatusOK
	}},
}

// driven is what one drive measured.
type driven struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
}

func (d *driven) add(o driven) {
	d.n += o.n
	d.elapsed += o.elapsed
	d.lat = append(d.lat, o.lat...)
}

func (d driven) rps() float64 { return float64(d.n) / d.elapsed.Seconds() }

// report reports req/s and the p50 and p99 latency under prefix (e.g. "sqlite-").
func (d driven) report(b *testing.B, prefix string) {
	slices.Sort(d.lat)
	b.ReportMetric(d.rps(), prefix+"req/s")
	if len(d.lat) > 0 {
		b.ReportMetric(ms(d.lat[len(d.lat)/2]), prefix+"p50-ms")
		b.ReportMetric(ms(d.lat[len(d.lat)*99/100]), prefix+"p99-ms")
	}
}

// drive sends scenario s's requests to tgt from clients concurrent clients, n requests in
// all, or (n == 0) until the deadline. Each client alternates between the target's
// instances. The first wrong answer stops it and is returned.
func drive(tgt *loadTarget, s loadScenario, clients, n int, deadline time.Time) (driven, error) {
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				if n > 0 {
					if int(next.Add(1)) > n {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				method, path, body, want := s.req(tgt, int(tgt.sent.Add(1)))
				base := tgt.bases[(w+j)%len(tgt.bases)]
				t0 := time.Now()
				if err := loadRequest(tgt.hc, method, base+path, tgt.token, body, want, s.name == "lookup"); err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s: %w", tgt.name, err))
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	d := driven{elapsed: time.Since(start), lat: slices.Concat(lat...)}
	d.n = len(d.lat)
	if err, _ := firstErr.Load().(error); err != nil {
		return d, err
	}
	return d, nil
}

// runLoad runs each scenario as a sub-benchmark of b.N requests; readsOnly leaves out the
// writes (the bare handler has nothing to write; the in-process runs measure
// authentication, which reads show best).
func runLoad(b *testing.B, tgt loadTarget, clients int, readsOnly bool) {
	tgt.name = b.Name()
	tgt.prepare(clients)
	defer tgt.hc.CloseIdleConnections()
	for _, s := range loadScenarios {
		if s.write && readsOnly {
			continue
		}
		b.Run(s.name, func(b *testing.B) {
			d, err := drive(&tgt, s, clients, b.N, time.Time{})
			if err != nil {
				b.Fatal(err)
			}
			d.report(b, "")
			b.ReportMetric(0, "ns/op") // req/s says it; ns/op of a concurrent run misleads
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pick spreads request i over the seeded users without a shared random source.
func pick(i, users int) int { return int((uint64(i) * 2654435761) % uint64(users)) }

// loadRequest sends one request and checks its answer: the status, and for a lookup
// that it found exactly one user.
func loadRequest(hc *http.Client, method, url, token, body string, want int, lookup bool) error {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d, want %d: %.300s", method, url, res.StatusCode, want, raw)
	}
	if lookup && !bytes.Contains(raw, []byte(`"totalResults":1,`)) {
		return fmt.Errorf("%s %s: the lookup did not find exactly one user: %.300s", method, url, raw)
	}
	return nil
}

// seedName is seeded user i's userName (and email), as a filter value would quote it.
func seedName(i int) string { return fmt.Sprintf("seed%07d%%40example.com", i) }

// userJSON is the body of a user as an identity provider would create it.
func userJSON(name string, i int) []byte {
	b, _ := json.Marshal(userAttrs(name, i))
	return b
}

func userAttrs(name string, i int) map[string]any {
	return map[string]any{
		"schemas":     []any{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    name,
		"displayName": "Seed " + strconv.Itoa(i),
		"active":      true,
		"name":        map[string]any{"givenName": "Seed", "familyName": strconv.Itoa(i)},
		"emails":      []any{map[string]any{"value": name, "type": "work", "primary": true}},
	}
}

// seedDoc is the document the server stores for userAttrs: the attributes as sent
// (their names are already the schema's spelling) without schemas, which the server
// renders itself. checkSeedDoc compares it with what a real create stores.
func seedDoc(name string, i int) map[string]any {
	d := userAttrs(name, i)
	delete(d, "schemas")
	return d
}

// seedStore makes the database at location (a SQLite path or a postgres:// URL), switches
// SCIM on, makes a token and stores users through package db in large transactions, the
// way the server stores a created user: over HTTP 10,000 creates would take most of the
// benchmark's time on this machine.
func seedStore(b testing.TB, location string, users int) loadTarget {
	b.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, location, db.WithWriteBudget(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := d.SetSCIMEnabled(ctx, true, "load"); err != nil {
		b.Fatal(err)
	}
	_, token, err := d.CreateToken(ctx, "load", 0, "load")
	if err != nil {
		b.Fatal(err)
	}
	tgt := loadTarget{token: token, users: users, ids: make([]string, users)}
	const batch = 2000
	for start := 0; start < users; start += batch {
		err := d.Write(ctx, func(tx *db.Tx) error {
			for i := start; i < min(start+batch, users); i++ {
				name := fmt.Sprintf("seed%07d@example.com", i)
				doc, err := json.Marshal(seedDoc(name, i))
				if err != nil {
					return err
				}
				u := db.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), UserName: name,
					DisplayName: "Seed " + strconv.Itoa(i), GivenName: "Seed", FamilyName: strconv.Itoa(i),
					Email: name, Active: true, Doc: doc}
				if err := tx.InsertUser(ctx, &u); err != nil {
					return err
				}
				tgt.ids[i] = u.ID
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return tgt
}

// checkSeedDoc creates one user through the running server and compares what it stored
// with what seedStore writes for the same attributes, so that the reads measured are
// reads of what the server itself would have stored.
func checkSeedDoc(b testing.TB, location string, tgt loadTarget) {
	b.Helper()
	const name = "probe@example.com"
	hc := &http.Client{Timeout: 30 * time.Second}
	req, _ := http.NewRequest("POST", tgt.bases[0]+"/Users", bytes.NewReader(userJSON(name, 7)))
	req.Header.Set("Authorization", "Bearer "+tgt.token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var created struct{ ID string }
	err = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || err != nil {
		b.Fatalf("create the probe user: %d %v", res.StatusCode, err)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, location)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	u, err := d.UserByID(ctx, created.ID)
	if err != nil {
		b.Fatal(err)
	}
	var stored map[string]any
	if err := json.Unmarshal(u.Doc, &stored); err != nil {
		b.Fatal(err)
	}
	want, _ := json.Marshal(seedDoc(name, 7))
	var wantDoc map[string]any
	json.Unmarshal(want, &wantDoc)
	if !reflect.DeepEqual(stored, wantDoc) {
		b.Fatalf("the server stores a created user as\n%s\nbut the seed writes\n%s", u.Doc, want)
	}
}

// serveInProcess serves the SQLite database at path with a scimserver.Server in this
// process until the benchmark ends, and returns its SCIM base URL.
func serveInProcess(b *testing.B, path string, opts ...db.Option) string {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := db.Open(ctx, path, opts...)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	srv := scimserver.New(d, scimserver.Config{Addr: "127.0.0.1:0"})
	if err := srv.Listen(); err != nil {
		cancel()
		d.Close()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
		d.Close()
	})
	return srv.SCIMURL()
}

// bareUser is what the bare handler answers: a user as GET /Users/{id} renders one, of
// about the same size.
var bareUser = []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"00000000-0000-4000-8000-000000000042",` +
	`"userName":"seed0000042@example.com","displayName":"Seed 42","active":true,"name":{"givenName":"Seed","familyName":"42"},` +
	`"emails":[{"value":"seed0000042@example.com","type":"work","primary":true}],"groups":[],` +
	`"meta":{"resourceType":"User","created":"2026-11-30T11:00:00.000Z","lastModified":"2026-11-30T11:00:00.000Z",` +
	`"location":"http://127.0.0.1:8080/scim/v2/Users/00000000-0000-4000-8000-000000000042","version":"W/\"1\""}}`)

// bareLookup is what it answers to a lookup: a list of one such user.
var bareLookup = []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"itemsPerPage":1,"startIndex":1,"Resources":[` +
	string(bareUser) + `]}`)

// bareServer serves the fixed answers on 127.0.0.1:0 until the benchmark ends: the most
// this machine's net/http can do with these clients, the ceiling for the SCIM server.
func bareServer(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		if r.URL.Query().Has("filter") {
			w.Write(bareLookup)
			return
		}
		w.Write(bareUser)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/scim/v2"
}

// envInt reads a positive count from the environment, else def.
func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// BenchmarkLoadInterleaved measures the ratios issue 11's targets name, with the targets
// compared driven in turn, a short slice each, round after round (b.N rounds), so that
// the load of a shared machine falls on all of them alike rather than on whichever ran
// during a busy minute. Each sub-benchmark reports every target's req/s and latency and
// the ratios:
//
//   - cache: the server in this process on SQLite with the authentication cache and
//     without it, and the bare handler: cache/nocache and inproc/bare;
//
//   - sqlite-bare: the real binary on SQLite and the bare handler: sqlite/bare;
//
//   - postgres-sqlite: the real binary on PostgreSQL, two of them on one database, and
//     the real binary on SQLite: postgres/sqlite and postgres-2/sqlite (skipped without
//     PostgreSQL).
//
//     go test -run '^$' -bench BenchmarkLoadInterleaved -benchtime 5s .
func BenchmarkLoadInterleaved(b *testing.B) {
	clients := envInt(b, "SCIMDESK_LOAD_CLIENTS", 32)
	users := envInt(b, "SCIMDESK_LOAD_USERS", 10_000)
	b.Run("cache", func(b *testing.B) {
		cached, nocache := filepath.Join(b.TempDir(), "cached.db"), filepath.Join(b.TempDir(), "nocache.db")
		withCache, withoutCache := seedStore(b, cached, users), seedStore(b, nocache, users)
		withCache.name, withCache.bases = "inproc", []string{serveInProcess(b, cached)}
		withoutCache.name, withoutCache.bases = "nocache", []string{serveInProcess(b, nocache, db.WithoutAuthCache())}
		bare := &loadTarget{name: "bare", bases: []string{bareServer(b)}, token: "none", users: users}
		interleave(b, []*loadTarget{&withCache, &withoutCache, bare}, clients, true,
			[][2]string{{"inproc", "nocache"}, {"inproc", "bare"}})
	})
	b.Run("sqlite-bare", func(b *testing.B) {
		sqlite := binaryOnSQLite(b, users)
		bare := &loadTarget{name: "bare", bases: []string{bareServer(b)}, token: "none", users: users}
		interleave(b, []*loadTarget{&sqlite, bare}, clients, true, [][2]string{{"sqlite", "bare"}})
	})
	b.Run("postgres-sqlite", func(b *testing.B) {
		sqlite := binaryOnSQLite(b, users)
		pg := servedSeeded(b, testpg.DSN(b), users, 1)
		pg.name = "postgres"
		pg2 := servedSeeded(b, testpg.DSN(b), users, 2)
		pg2.name = "postgres-2"
		interleave(b, []*loadTarget{&sqlite, &pg, &pg2}, clients, false,
			[][2]string{{"postgres", "sqlite"}, {"postgres-2", "sqlite"}})
	})
}

// binaryOnSQLite seeds a SQLite file and serves it with the real binary until b ends.
func binaryOnSQLite(b *testing.B, users int) loadTarget {
	tgt := servedSeeded(b, filepath.Join(b.TempDir(), "load.db"), users, 1)
	tgt.name = "sqlite"
	return tgt
}

// servedSeeded seeds the store at loc (a file or a postgres:// URL) with users and serves
// it with n instances of the real binary until b ends, each a base URL of the target
// (clients alternate between them, as behind a load balancer).
func servedSeeded(b *testing.B, loc string, users, n int) loadTarget {
	tgt := seedStore(b, loc, users)
	for range n {
		addr := freeAddr(b)
		startServe(b, loc, addr)
		tgt.bases = append(tgt.bases, "http://"+addr+"/scim/v2")
	}
	return tgt
}

// loadSlice is how long one target is driven before the next one's turn.
const loadSlice = 250 * time.Millisecond

// interleave runs each scenario as a sub-benchmark of b.N rounds, each round driving every
// target for loadSlice (in an order that rotates from round to round), and reports each
// target's figures as "<name>-req/s" and so on, and each ratio of req/s as "<a>/<b>".
func interleave(b *testing.B, targets []*loadTarget, clients int, readsOnly bool, ratios [][2]string) {
	for _, t := range targets {
		t.prepare(clients)
		defer t.hc.CloseIdleConnections()
	}
	for _, s := range loadScenarios {
		if s.write && readsOnly {
			continue
		}
		b.Run(s.name, func(b *testing.B) {
			totals := map[string]*driven{}
			for _, t := range targets {
				totals[t.name] = &driven{}
			}
			for round := range b.N {
				for k := range targets {
					t := targets[(round+k)%len(targets)]
					d, err := drive(t, s, clients, 0, time.Now().Add(loadSlice))
					if err != nil {
						b.Fatal(err)
					}
					totals[t.name].add(d)
				}
			}
			for _, t := range targets {
				totals[t.name].report(b, t.name+"-")
			}
			for _, r := range ratios {
				b.ReportMetric(totals[r[0]].rps()/totals[r[1]].rps(), r[0]+"/"+r[1])
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}
