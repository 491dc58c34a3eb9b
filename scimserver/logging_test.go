package scimserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testtool"
)

// openServable opens a fresh database with SCIM switched on and a token, closed when the
// test ends.
func openServable(t *testing.T) (*db.DB, string) {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "scim.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.SetSCIMEnabled(ctx, true, "test"); err != nil {
		t.Fatal(err)
	}
	_, secret, err := d.CreateToken(ctx, "test", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	return d, secret
}

// serveLogged serves d on 127.0.0.1:0 with cfg (a heartbeat every 50 ms unless set);
// before Serve, tweak can adjust the server (a short log window). stop shuts it down and
// returns what Serve returned.
func serveLogged(t *testing.T, d *db.DB, cfg Config, tweak func(*Server)) (srv *Server, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Addr = "127.0.0.1:0"
	if cfg.HeartbeatEvery == 0 {
		cfg.HeartbeatEvery = 50 * time.Millisecond
	}
	srv = New(d, cfg)
	if tweak != nil {
		tweak(srv)
	}
	if err := srv.Listen(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return srv, stop
}

// startLogged serves a fresh database on 127.0.0.1:0, logging into out; before Serve,
// tweak can adjust the server (a short log window).
func startLogged(t *testing.T, out io.Writer, cfg Config, tweak func(*Server)) (*Server, string) {
	t.Helper()
	d, secret := openServable(t)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(out, nil))
	}
	srv, stop := serveLogged(t, d, cfg, tweak)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv, secret
}

// TestFailedRequestLogIsBounded floods the server with failing requests with 60 KB paths,
// long user agents and a long method, from 8 connections, and checks that the log stays
// small, that no logged value is long, and that a summary line counts what was left out.
func TestFailedRequestLogIsBounded(t *testing.T) {
	out := &testtool.SyncBuffer{}
	srv, _ := startLogged(t, out, Config{}, nil)
	long := strings.Repeat("A", 60<<10)
	agent := "flood/" + strings.Repeat("B", 2<<10) // with the path, under the 64 KiB header limit
	const perWorker = 40
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := range perWorker {
				method, path := "GET", "/scim/v2/"+long // 401: no token
				switch (w + i) % 3 {
				case 1:
					path = "/" + long // 404
				case 2:
					method, path = "X"+strings.Repeat("M", 4<<10), "/scim/v2/Users" // 401, with a long method
				}
				req, _ := http.NewRequest(method, srv.BaseURL()+path, nil)
				req.Header.Set("User-Agent", agent)
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 401 && res.StatusCode != 404 {
					t.Errorf("%s %.20s: %d", method, path, res.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	const sent = 8 * perWorker

	// End the window (a minute long, so the whole flood fell in it); the heartbeat then
	// writes the summary.
	endWindow(&srv.logLimit)
	var log string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		log = out.String()
		if strings.Contains(log, "log lines suppressed") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(log, "log lines suppressed") {
		t.Errorf("no summary line after the flood")
	}
	lines := strings.Split(strings.TrimSpace(log), "\n")
	failed := strings.Count(log, `msg="request failed"`)
	t.Logf("%d requests, %d log lines, %d bytes", sent, len(lines), len(log))
	if failed != 2*logPerKind { // two kinds (401, 404), one window
		t.Errorf("%d request lines for %d failing requests", failed, sent)
	}
	if len(log) > 16<<10 {
		t.Errorf("the log grew to %d bytes for %d requests", len(log), sent)
	}
	for _, l := range lines {
		if len(l) > 1500 {
			t.Errorf("a log line of %d bytes: %.200s…", len(l), l)
		}
	}
	var summary string
	for _, l := range lines {
		if strings.Contains(l, "log lines suppressed") {
			summary = l
		}
	}
	if !strings.Contains(summary, "status 401: ") || !strings.Contains(summary, "status 404: ") || !strings.Contains(summary, " from 127.0.0.1 (flood/BBB") {
		t.Errorf("the summary line lacks counts or a sample: %s", summary)
	}
}

// TestHTTPErrorLogIsThrottled feeds net/http's error log (where a flood of failed TLS
// handshakes goes) a thousand lines and checks that a few get through, cut short, and the
// rest are summed up.
func TestHTTPErrorLogIsThrottled(t *testing.T) {
	out := &testtool.SyncBuffer{}
	srv := New(nil, Config{Logger: slog.New(slog.NewTextHandler(out, nil))})
	w := httpErrorLog{srv}
	junk := strings.Repeat("\x16", 10<<10)
	for range 1000 {
		w.Write([]byte("http: TLS handshake error from 192.0.2.1:4711: " + junk + "\n"))
	}
	endWindow(&srv.logLimit)
	srv.logLimit.flush(srv.log)
	log := out.String()
	if n := strings.Count(log, `msg="http: TLS handshake error`); n != logPerKind {
		t.Errorf("%d handshake error lines, want %d:\n%s", n, logPerKind, log)
	}
	if !strings.Contains(log, "count=995") {
		t.Errorf("the summary does not count the 995 left out:\n%s", log)
	}
	if len(log) > 8<<10 {
		t.Errorf("%d bytes logged for 1000 lines", len(log))
	}
}

// endWindow makes the limiter's current window over, as if its minute had passed.
func endWindow(l *logLimiter) {
	l.mu.Lock()
	l.ends = time.Now()
	l.mu.Unlock()
}

// TestQuietServerLogsNoWarning: a server that answers requests, writes its heartbeats and
// token uses, and shuts down, all without trouble, logs no warning or error: the log is
// read at 2 a.m., and a warning that cries wolf hides the real one.
func TestQuietServerLogsNoWarning(t *testing.T) {
	ctx := context.Background()
	d, secret := openServable(t)
	out := &testtool.SyncBuffer{}
	srv, stop := serveLogged(t, d, Config{Logger: slog.New(slog.NewTextHandler(out, nil)), HeartbeatEvery: 20 * time.Millisecond}, nil)
	get := func() int {
		req, _ := http.NewRequest("GET", srv.SCIMURL()+"/Users?count=5", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i := range 3 {
		if status := get(); status != 200 {
			t.Fatalf("request %d: %d", i, status)
		}
	}
	// Until a heartbeat has counted the requests: beats (with their token uses) ran.
	deadline := time.Now().Add(10 * time.Second)
	for {
		hs, err := d.ReadHeartbeats(ctx)
		if err == nil && len(hs) == 1 && hs[0].Requests >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat counted the requests: %+v %v", hs, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	get() // one more request, whose token use only the shutdown writes
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if hs, err := d.ReadHeartbeats(ctx); err != nil || len(hs) != 0 {
		t.Errorf("after shutdown: heartbeats %+v (%v), want none", hs, err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("a quiet server logged: %s", line)
		}
	}
}

// TestFailedHeartbeatIsLogged: a heartbeat the server cannot write while it serves (its
// database gone) is a warning in the log, not silence.
func TestFailedHeartbeatIsLogged(t *testing.T) {
	d, _ := openServable(t)
	out := &testtool.SyncBuffer{}
	serveLogged(t, d, Config{Logger: slog.New(slog.NewTextHandler(out, nil)), HeartbeatEvery: 20 * time.Millisecond}, nil)
	d.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "write heartbeat") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning for heartbeats that cannot be written; the log:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
