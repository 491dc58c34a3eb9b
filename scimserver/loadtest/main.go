// Command loadtest measures the SCIM server under load on 127.0.0.1 and compares each
// scenario with a trivial net/http handler measured the same way in the same run, so the
// figures mean something on a shared, noisy machine.
//
//	go run ./scimserver/loadtest                 # 100,000 users, 10 s per scenario
//	go run ./scimserver/loadtest -users 20000 -duration 3s
//	go run ./scimserver/loadtest -metrics        # with Prometheus metrics on, scraped every second
//	go run ./scimserver/loadtest -compare-metrics -users 20000 -duration 6s   # what metrics cost
//
// The server and the trivial handler each run in a child process (this program started
// with -role), so that the server's peak RSS can be read and the client does not share a
// Go runtime with it. Everything stays on loopback and stops by itself.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"scimdesk/db"
	"scimdesk/metrics"
	"scimdesk/scimserver"
)

func main() {
	role := flag.String("role", "", "internal: run as the server child (scim or trivial)")
	dbPath := flag.String("db", "", "internal: database for the scim child")
	users := flag.Int("users", 100_000, "users to seed")
	conns := flag.Int("conns", 16, "concurrent connections")
	duration := flag.Duration("duration", 10*time.Second, "time per scenario")
	large := flag.Int("large-pages", 0, "instead: seed this many large users (100 emails each) and measure the server's memory under 4 concurrent pages of 1,000")
	withMetrics := flag.Bool("metrics", false, "serve with Prometheus metrics on (as --metrics-addr does) and scrape them every -scrape-every during the scenarios")
	scrapeEvery := flag.Duration("scrape-every", time.Second, "with -metrics or -compare-metrics: time between scrapes")
	compare := flag.Bool("compare-metrics", false, "instead: measure what metrics cost, with two servers over copies of one seeded database, metrics off and on, driven in alternating slices")
	slice := flag.Duration("slice", time.Second, "with -compare-metrics: how long each server is driven before the other's turn")
	control := flag.Bool("control", false, "with -compare-metrics: metrics off on both servers, to see the noise floor (an A/A run)")
	swap := flag.Bool("swap", false, "with -compare-metrics: metrics on the server over the seeded file and off on the copy, instead of the other way round")
	flag.Parse()
	switch *role {
	case "scim":
		runSCIM(*dbPath, *withMetrics)
		return
	case "trivial":
		runTrivial()
		return
	}
	if *compare {
		if err := compareMetrics(*users, *conns, *duration, *slice, *scrapeEvery, *control, *swap); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
		return
	}
	if *large > 0 {
		if err := runLargePages(*large, *duration); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
		return
	}
	scrape := time.Duration(0)
	if *withMetrics {
		scrape = *scrapeEvery
	}
	if err := run(*users, *conns, *duration, scrape); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// runSCIM is the server child: it prints its address, token and metrics URL ("-" without
// metrics), then serves until killed.
func runSCIM(path string, withMetrics bool) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	d, err := db.Open(ctx, path)
	must(err)
	must(d.SetSCIMEnabled(ctx, true, "loadtest"))
	_, token, err := d.CreateToken(ctx, "loadtest", 0, "loadtest")
	must(err)
	cfg := scimserver.Config{Addr: "127.0.0.1:0"}
	metricsURL := "-"
	if withMetrics {
		m := metrics.New(d, metrics.Options{})
		cfg.Observer = m
		ep, err := m.Listen("127.0.0.1:0")
		must(err)
		metricsURL = "http://" + ep.Addr() + "/metrics"
		go ep.Serve(ctx)
	}
	srv := scimserver.New(d, cfg)
	must(srv.Listen())
	scimserver.TuneRuntime() // as scimdesk serve does
	fmt.Printf("%s %s %s\n", srv.SCIMURL(), token, metricsURL)
	must(srv.Serve(ctx))
}

// runTrivial serves a fixed 300-byte JSON document: the ceiling for this machine.
func runTrivial() {
	body := []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[{"id":"` +
		strings.Repeat("x", 300-120) + `"}],"startIndex":1,"itemsPerPage":1}`)
	body = body[:300-1]
	body = append(body[:len(body)-1], '}', '}')[:300]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	fmt.Printf("http://%s/scim/v2 none\n", ln.Addr())
	must(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		w.Write(body)
	})))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type child struct {
	cmd     *exec.Cmd
	url     string
	token   string
	metrics string // URL of /metrics, or ""
}

func start(args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("child did not start: %w", err)
	}
	f := strings.Fields(line)
	c := &child{cmd: cmd, url: f[0], token: f[1]}
	if len(f) > 2 && f[2] != "-" {
		c.metrics = f[2]
	}
	return c, nil
}

func (c *child) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
	}
}

// peakRSS is the child's high-water resident set size, in MiB.
func (c *child) peakRSS() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%f", &kb)
			return kb / 1024
		}
	}
	return -1
}

type client struct {
	http  *http.Client
	url   string
	token string
}

func (c *client) do(method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func newClient(c *child, conns int) *client {
	return &client{url: c.url, token: c.token, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}}}
}

// scenario makes one request; worker and i let it pick its own data.
type scenario struct {
	name string
	req  func(c *client, rng *rand.Rand) (method, path string, body []byte, want int)
}

type result struct {
	name     string
	n        int64
	errors   int64
	rps      float64
	p50, p99 time.Duration
}

// drive runs one scenario at conns connections for d.
func drive(c *client, conns int, d time.Duration, s scenario) result {
	var t tally
	t.add(c, conns, d, s)
	return t.result(s.name)
}

// tally adds up the requests of one or more runs of a scenario.
type tally struct {
	n, errs int64
	elapsed time.Duration
	lat     []time.Duration
}

// add runs the scenario at conns connections for d and adds what happened.
func (t *tally) add(c *client, conns int, d time.Duration, s scenario) {
	var wg sync.WaitGroup
	var n, errs atomic.Int64
	lat := make([][]time.Duration, conns)
	deadline := time.Now().Add(d)
	start := time.Now()
	var firstErr atomic.Value
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for time.Now().Before(deadline) {
				method, path, body, want := s.req(c, rng)
				t0 := time.Now()
				status, resp, err := c.do(method, path, body)
				lat[w] = append(lat[w], time.Since(t0))
				n.Add(1)
				if err != nil || status != want {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s %s: %d %v %.200s", method, path, status, err, resp))
				}
			}
		}()
	}
	wg.Wait()
	t.elapsed += time.Since(start)
	t.n += n.Load()
	t.errs += errs.Load()
	t.lat = append(t.lat, slices.Concat(lat...)...)
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "  first error:", e)
	}
}

func (t *tally) result(name string) result {
	slices.Sort(t.lat)
	r := result{name: name, n: t.n, errors: t.errs, rps: float64(t.n) / t.elapsed.Seconds()}
	if len(t.lat) > 0 {
		r.p50, r.p99 = t.lat[len(t.lat)/2], t.lat[len(t.lat)*99/100]
	}
	return r
}

// scrapeMetrics fetches /metrics every interval until stop is closed, as Prometheus
// would, so that the cost of collecting is part of what the scenarios measure.
func scrapeMetrics(url string, every time.Duration, stop <-chan struct{}) (scrapes int, err error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return scrapes, nil
		case <-tick.C:
		}
		res, err := http.Get(url)
		if err != nil {
			return scrapes, err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			return scrapes, fmt.Errorf("scrape: %s %v", res.Status, err)
		}
		scrapes++
	}
}

// seed creates users (and 50 groups) over HTTP, as an identity provider would.
func seed(c *client, users, conns int) (ids, groups []string, err error) {
	fmt.Fprintf(os.Stderr, "seeding %d users over HTTP at %d connections...\n", users, conns)
	t0 := time.Now()
	ids = make([]string, users)
	var next atomic.Int64
	var wg sync.WaitGroup
	var seedErr atomic.Value
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= users {
					return
				}
				status, body, err := c.do("POST", "/Users", userBody(fmt.Sprintf("seed%07d@example.com", i)))
				if err != nil || status != 201 {
					seedErr.CompareAndSwap(nil, fmt.Sprintf("seed %d: %d %v %s", i, status, err, body))
					return
				}
				var u struct{ ID string }
				json.Unmarshal(body, &u)
				ids[i] = u.ID
			}
		}()
	}
	wg.Wait()
	if e := seedErr.Load(); e != nil {
		return nil, nil, fmt.Errorf("%v", e)
	}
	fmt.Fprintf(os.Stderr, "seeded in %s (%.0f creates/s)\n", time.Since(t0).Round(time.Millisecond), float64(users)/time.Since(t0).Seconds())

	groups = make([]string, 50)
	for i := range groups {
		status, body, err := c.do("POST", "/Groups", []byte(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"load-group-%d"}`, i)))
		if err != nil || status != 201 {
			return nil, nil, fmt.Errorf("create group: %d %v %s", status, err, body)
		}
		var g struct{ ID string }
		json.Unmarshal(body, &g)
		groups[i] = g.ID
	}

	return ids, groups, nil
}

// makeScenarios are the requests measured, over the seeded users and groups.
func makeScenarios(users int, ids, groups []string) []scenario {
	var created atomic.Int64
	return []scenario{
		{"lookup userName eq", func(c *client, rng *rand.Rand) (string, string, []byte, int) {
			return "GET", "/Users?filter=userName+eq+%22" + fmt.Sprintf("seed%07d%%40example.com", rng.IntN(users)) + "%22&startIndex=1&count=100", nil, 200
		}},
		{"get by id", func(c *client, rng *rand.Rand) (string, string, []byte, int) {
			return "GET", "/Users/" + ids[rng.IntN(users)], nil, 200
		}},
		{"list a page of 100", func(c *client, rng *rand.Rand) (string, string, []byte, int) {
			return "GET", fmt.Sprintf("/Users?startIndex=%d&count=100", 1+rng.IntN(users/100)*100), nil, 200
		}},
		{"PATCH deactivate", func(c *client, rng *rand.Rand) (string, string, []byte, int) {
			return "PATCH", "/Users/" + ids[rng.IntN(users)], []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`), 200
		}},
		{"create", func(c *client, rng *rand.Rand) (string, string, []byte, int) {
			return "POST", "/Users", userBody(fmt.Sprintf("new%08d@example.com", created.Add(1))), 201
		}},
		{"group member add", func(c *client, rng *rand.Rand) (string, string, []byte, int) {
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"%s"}]}]}`, ids[rng.IntN(users)])
			return "PATCH", "/Groups/" + groups[rng.IntN(len(groups))] + "?excludedAttributes=members", []byte(body), 200
		}},
	}
}

func run(users, conns int, d, scrapeEvery time.Duration) error {
	dir, err := os.MkdirTemp("", "scimdesk-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	triv, err := start("-role", "trivial")
	if err != nil {
		return err
	}
	tc := newClient(triv, conns)
	base := drive(tc, conns, d, scenario{"trivial handler (300-byte JSON)", func(*client, *rand.Rand) (string, string, []byte, int) {
		return "GET", "/Users", nil, 200
	}})
	triv.stop()

	args := []string{"-role", "scim", "-db", filepath.Join(dir, "load.db")}
	if scrapeEvery > 0 {
		args = append(args, "-metrics")
	}
	srv, err := start(args...)
	if err != nil {
		return err
	}
	defer srv.stop()
	c := newClient(srv, conns)

	ids, groups, err := seed(c, users, conns)
	if err != nil {
		return err
	}
	scenarios := makeScenarios(users, ids, groups)
	metricsNote := "metrics off"
	if srv.metrics != "" {
		metricsNote = fmt.Sprintf("metrics on, scraped every %s", scrapeEvery)
	}
	fmt.Printf("%d users, %d connections, %s per scenario, GOMAXPROCS of each process = %d cores, %s\n\n", users, conns, d, numCPU(), metricsNote)
	fmt.Printf("%-32s %10s %9s %9s %7s %7s\n", "scenario", "req/s", "p50", "p99", "ratio", "errors")
	printRow(base, base)
	stopScrapes := make(chan struct{})
	type scraped struct {
		n   int
		err error
	}
	scrapeDone := make(chan scraped, 1)
	if srv.metrics != "" {
		go func() {
			n, err := scrapeMetrics(srv.metrics, scrapeEvery, stopScrapes)
			scrapeDone <- scraped{n, err}
		}()
	}
	for _, s := range scenarios {
		printRow(drive(c, conns, d, s), base)
	}
	close(stopScrapes)
	if srv.metrics != "" {
		s := <-scrapeDone
		if s.err != nil {
			return s.err
		}
		fmt.Printf("\n%d scrapes of /metrics during the scenarios\n", s.n)
	}
	fmt.Printf("\nserver peak RSS: %.1f MiB\n", srv.peakRSS())
	return nil
}

// compareMetrics measures what metrics cost: two servers over copies of one seeded
// database, one with metrics off and one with them on and scraped (once per scrapeEvery
// of its own time), driven in turns of one slice each, the first turn alternating, so
// that the noise of a shared machine falls on both alike. d is each server's total time
// per scenario. With control, the second server has metrics off too: the spread of its
// ratios is what noise alone does. With swap, the server over the copy is the one with
// metrics off (and the off server's turn comes second), so that any difference between
// the two positions can be told from the cost of metrics.
func compareMetrics(users, conns int, d, slice, scrapeEvery time.Duration, control, swap bool) error {
	dir, err := os.MkdirTemp("", "scimdesk-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	seedDir, copyDir := filepath.Join(dir, "seeded"), filepath.Join(dir, "copy")
	offDir, onDir := seedDir, copyDir
	if swap {
		offDir, onDir = copyDir, seedDir
	}
	for _, p := range []string{offDir, onDir} {
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
	}
	seeder, err := start("-role", "scim", "-db", filepath.Join(seedDir, "load.db"))
	if err != nil {
		return err
	}
	ids, groups, err := seed(newClient(seeder, conns), users, conns)
	seeder.stop()
	if err != nil {
		return err
	}
	// The copy holds the same users and groups under the same ids (and the setup-code key
	// file beside the database).
	files, err := os.ReadDir(seedDir)
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(seedDir, f.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(copyDir, f.Name()), b, 0o600); err != nil {
			return err
		}
	}
	off, err := start("-role", "scim", "-db", filepath.Join(offDir, "load.db"))
	if err != nil {
		return err
	}
	defer off.stop()
	onArgs := []string{"-role", "scim", "-db", filepath.Join(onDir, "load.db"), "-metrics"}
	if control {
		onArgs = onArgs[:len(onArgs)-1]
		fmt.Println("control run: metrics off on both servers")
	}
	on, err := start(onArgs...)
	if err != nil {
		return err
	}
	defer on.stop()
	offC, onC := newClient(off, conns), newClient(on, conns)

	where := "metrics on the copy"
	if swap {
		where = "metrics on the seeded file"
	}
	fmt.Printf("%d users, %d connections, %s per server and scenario in slices of %s, metrics scraped every %s, %s, GOMAXPROCS = %d cores\n\n",
		users, conns, d, slice, scrapeEvery, where, numCPU())
	fmt.Printf("%-24s %9s %9s %7s %9s %9s %9s %9s %6s\n", "scenario", "off req/s", "on req/s", "on/off", "off p50", "on p50", "off p99", "on p99", "errors")
	scrapes, sinceScrape := 0, scrapeEvery
	onTurn := func(t *tally, s scenario) error {
		done := make(chan error, 1)
		if on.metrics != "" && sinceScrape >= scrapeEvery {
			sinceScrape = 0
			scrapes++
			go func() { done <- scrapeOnce(on.metrics) }()
		} else {
			done <- nil
		}
		t.add(onC, conns, slice, s)
		sinceScrape += slice
		return <-done
	}
	for _, s := range makeScenarios(users, ids, groups) {
		var tOff, tOn tally
		for i := 0; time.Duration(i)*slice < d; i++ {
			offFirst := i%2 == 0 != swap
			if offFirst {
				tOff.add(offC, conns, slice, s)
			}
			if err := onTurn(&tOn, s); err != nil {
				return err
			}
			if !offFirst {
				tOff.add(offC, conns, slice, s)
			}
		}
		a, b := tOff.result(s.name), tOn.result(s.name)
		fmt.Printf("%-24s %9.0f %9.0f %7.3f %9s %9s %9s %9s %6d\n", s.name, a.rps, b.rps, b.rps/a.rps,
			a.p50.Round(10*time.Microsecond), b.p50.Round(10*time.Microsecond), a.p99.Round(10*time.Microsecond), b.p99.Round(10*time.Microsecond), a.errors+b.errors)
	}
	fmt.Printf("\n%d scrapes of /metrics\n", scrapes)
	return nil
}

func scrapeOnce(url string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("scrape: %s", res.Status)
	}
	return nil
}

func printRow(r, base result) {
	fmt.Printf("%-32s %10.0f %9s %9s %7.3f %7d\n", r.name, r.rps, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.rps/base.rps, r.errors)
}

func userBody(name string) []byte {
	b, _ := json.Marshal(map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    name,
		"name":        map[string]string{"givenName": "Load", "familyName": "Test"},
		"emails":      []map[string]any{{"value": name, "type": "work", "primary": true}},
		"displayName": "Load Test",
		"active":      true,
	})
	return b
}

func numCPU() int { return runtime.GOMAXPROCS(0) }

// runLargePages seeds users as large as the server accepts (100 emails each, about 20 KB
// of JSON) and reads pages of 1,000 of them from 4 clients at once for d, then reports the
// server's peak RSS: a page is streamed, so memory must not grow with page size.
func runLargePages(users int, d time.Duration) error {
	dir, err := os.MkdirTemp("", "scimdesk-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := start("-role", "scim", "-db", filepath.Join(dir, "large.db"))
	if err != nil {
		return err
	}
	defer srv.stop()
	c := newClient(srv, 8)
	fmt.Fprintf(os.Stderr, "seeding %d large users...\n", users)
	for i := range users {
		emails := make([]string, 100)
		for j := range emails {
			emails[j] = fmt.Sprintf(`{"value":"user%06d.alias%03d.%s@example.com","type":"other"}`, i, j, strings.Repeat("x", 120))
		}
		body := fmt.Sprintf(`{"userName":"large%06d@example.com","displayName":%q,"emails":[%s]}`, i, strings.Repeat("Large User ", 40), strings.Join(emails, ","))
		status, b, err := c.do("POST", "/Users", []byte(body))
		if err != nil || status != 201 {
			return fmt.Errorf("seed %d: %d %v %s", i, status, err, b)
		}
	}
	before := srv.peakRSS()
	var pages, bytesRead atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				status, b, err := c.do("GET", "/Users?startIndex=1&count=1000", nil)
				if err != nil || status != 200 {
					fmt.Fprintf(os.Stderr, "page: %d %v\n", status, err)
					return
				}
				pages.Add(1)
				bytesRead.Add(int64(len(b)))
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d large users; %d pages of 1,000 read by 4 clients in %s, %.1f MiB each\n", users, pages.Load(), d,
		float64(bytesRead.Load())/float64(max(pages.Load(), 1))/(1<<20))
	fmt.Printf("server peak RSS: %.1f MiB after seeding, %.1f MiB after the pages\n", before, srv.peakRSS())
	return nil
}
