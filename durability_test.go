package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"scimdesk/internal/testpg"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// TestMain removes the binary built for the run (a temporary directory of ~24 MB) when
// the tests are done, whatever their outcome.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	testpg.Stop() // the PostgreSQL cluster the tests may have started
	os.Exit(code)
}

// stampedVersion is the version the test binary is stamped with, as a release build is.
const stampedVersion = "v0.0.0-e2e-stamp"

// builtBinary builds the real scimdesk binary once per test run; TestMain removes it.
func builtBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scimdesk-bin-")
		if err != nil {
			binErr = err
			return
		}
		binDir, binPath = dir, filepath.Join(dir, "scimdesk")
		// Stamped like a release build, so that the stamp is tested too (TestVersionStamp).
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build",
			"-ldflags", "-X scimdesk/cli.version="+stampedVersion, "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freeAddr finds a free loopback port.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// run runs the binary to completion and returns its stdout.
func run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(builtBinary(t), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scimdesk %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// startServe starts `scimdesk serve` and waits until it answers.
func startServe(t testing.TB, dbPath, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(builtBinary(t), "serve", "--db", dbPath, "--addr", addr)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKillLosesNoAcknowledgedWrite creates users against the real binary from several
// clients and SIGKILLs the server as soon as the clients have received a given number of
// 201s, at several such points in turn (the first create, a few, hundreds). After each
// kill it restarts the server on the same file and reads every user back through the
// restarted server's SCIM API, then compares exactly: every acknowledged create is there,
// and every user there was sent by a client and not refused; the only ones allowed without
// a 201 are the few whose requests were still in flight when the server died.
//
// What it can see: a server that answers 201 before its write is committed, such as one
// that acknowledges a write once it is queued and commits it later in a batch: the kill
// lands within a fraction of a millisecond of the 201 that reached the count, while such
// creates are still in memory, and a lost acknowledged create fails the test (planted that
// way, it failed every run). A restart that does not recover the WAL, or a restarted server
// that does not serve what is on disk, fails it too.
//
// What it sees only sometimes: an answer sent just before COMMIT writes the WAL. Once the
// process has written the WAL frames, SIGKILL cannot lose them (they are in the OS page
// cache), so the window is the few microseconds before that write; with the answer moved
// just ahead of COMMIT, one run in three failed.
//
// What it cannot see: synchronous=OFF instead of FULL. SIGKILL ends the process, not the
// machine: whatever the process wrote survives, synced or not. Only a power cut tells them
// apart, so package db checks the pragma itself (TestCommitsSyncFully).
func TestKillLosesNoAcknowledgedWrite(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "durable.db")
	createDB(t, dbPath)
	run(t, "scim", "enable", "--db", dbPath)
	token := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "durability", "--ttl", "1d"), "\n", 2)[0]
	const workers = 4
	sent := map[string]string{} // userName -> "acked", "refused" or "unknown" (no answer)
	addr := freeAddr(t)
	srv := startServe(t, dbPath, addr)
	for round, killAt := range []int{1, 5, 30, 120, 400} {
		var mu sync.Mutex
		var acked int
		var kill sync.Once
		killed := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20000; i++ {
					select {
					case <-killed:
						return
					default:
					}
					name := fmt.Sprintf("kill-%d-%d-%d@example.com", round, w, i)
					mu.Lock()
					sent[name] = "unknown"
					mu.Unlock()
					req, _ := http.NewRequest("POST", "http://"+addr+"/scim/v2/Users", strings.NewReader(`{"userName":"`+name+`"}`))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Content-Type", "application/scim+json")
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						return // the server is gone; this one's fate is unknown
					}
					mu.Lock()
					if res.StatusCode == http.StatusCreated {
						sent[name] = "acked"
						acked++
					} else {
						sent[name] = "refused"
					}
					n := acked
					mu.Unlock()
					if n >= killAt {
						// Kill here, in the goroutine that saw the 201, before reading
						// the body: the least delay between the acknowledgement and the
						// kill.
						kill.Do(func() { srv.Process.Signal(syscall.SIGKILL); close(killed) })
						res.Body.Close()
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}()
		}
		wg.Wait()
		if err := srv.Wait(); err == nil {
			t.Fatalf("round %d: the server was not killed (%d creates acknowledged, want %d)", round, acked, killAt)
		}

		// Restart on the same file (the WAL is recovered at open) and compare.
		addr = freeAddr(t)
		srv = startServe(t, dbPath, addr)
		stored := scimUserNames(t, "http://"+addr+"/scim/v2", token)
		var unacked int
		for name, fate := range sent {
			switch {
			case fate == "acked" && !stored[name]:
				t.Errorf("round %d (kill after %d 201s): acknowledged user %s lost", round, killAt, name)
				delete(sent, name) // said once
			case fate == "refused" && stored[name]:
				t.Errorf("round %d: user %s is stored although its create was refused", round, name)
			case fate == "unknown" && stored[name]:
				unacked++
			}
		}
		for name := range stored {
			if _, ok := sent[name]; !ok {
				t.Errorf("round %d: user %s is stored but was never sent", round, name)
			}
		}
		if unacked > workers*(round+1) {
			t.Errorf("%d users stored without a 201: more than the requests in flight at the kills", unacked)
		}
		t.Logf("round %d: killed after %d acknowledged creates; %d users stored after restart", round, acked, len(stored))
	}
	// The restarted server takes writes again.
	if got := scimStatus(t, "POST", "http://"+addr+"/scim/v2/Users", token, `{"userName":"after-the-kills@example.com"}`); got != http.StatusCreated {
		t.Errorf("create on the restarted server: %d", got)
	}
}

// scimUserNames reads every user through the SCIM API, page by page.
func scimUserNames(t *testing.T, base, token string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for start := 1; ; {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/Users?startIndex=%d&count=1000", base, start), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			TotalResults int
			Resources    []struct{ UserName string }
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("list users from %d: %d %v", start, res.StatusCode, err)
		}
		for _, u := range page.Resources {
			names[u.UserName] = true
		}
		start += len(page.Resources)
		if len(page.Resources) == 0 || start > page.TotalResults {
			if len(names) != page.TotalResults {
				t.Fatalf("read %d users, the server counts %d", len(names), page.TotalResults)
			}
			return names
		}
	}
}

// TestDatabaseFileMode checks, while `scimdesk serve` holds the database open (so that its
// -wal and -shm files exist), that the database and both of those files, and any other file
// scimdesk keeps beside them, are 0600, and that a token secret created meanwhile reaches
// none of them.
func TestDatabaseFileMode(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "mode.db")
	startServe(t, dbPath, freeAddr(t))
	secret := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "mode"), "\n", 2)[0]
	if !strings.HasPrefix(secret, "scim_") {
		t.Fatalf("first line is not the secret: %q", secret)
	}
	files, err := filepath.Glob(dbPath + "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
		if !slices.Contains(files, want) {
			t.Errorf("%s does not exist while the server holds the database open (have %v)", want, files)
		}
	}
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), secret) || strings.Contains(string(b), strings.TrimPrefix(secret, "scim_")) {
			t.Errorf("%s contains the token secret", p)
		}
	}
}

// TestTokenTTL checks --ttl parsing through the real binary, and that the expiry date
// `token list` shows is the one asked for.
func TestTokenTTL(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "ttl.db")
	for _, bad := range []string{"90", "0d", "-3d", "forever", "1y", "99999d"} {
		cmd := exec.Command(builtBinary(t), "token", "create", "--db", dbPath, "--description", "x", "--ttl", bad)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("--ttl %s accepted: %s", bad, out)
		}
	}
	createDB(t, dbPath)
	run(t, "token", "create", "--db", dbPath, "--description", "never", "--ttl", "never")
	before := time.Now()
	run(t, "token", "create", "--db", dbPath, "--description", "month", "--ttl", "30d")
	after := time.Now()
	// The date, in local time as token list prints it; either if midnight fell between.
	dates := []string{before.AddDate(0, 0, 30).Format("2006-01-02"), after.AddDate(0, 0, 30).Format("2006-01-02")}
	list := run(t, "token", "list", "--db", dbPath)
	if strings.Count(list, "active") != 2 {
		t.Errorf("token list does not show two active tokens:\n%s", list)
	}
	expires := map[string]string{}
	for _, line := range strings.Split(list, "\n")[1:] {
		// ID DESCRIPTION HINT CREATED EXPIRES ...
		if f := strings.Fields(line); len(f) > 4 {
			expires[f[1]] = f[4]
		}
	}
	if expires["never"] != "never" {
		t.Errorf("--ttl never: token list shows it expires %q:\n%s", expires["never"], list)
	}
	if got := expires["month"]; got != dates[0] && got != dates[1] {
		t.Errorf("--ttl 30d: token list shows it expires %q, want %s (30 days from now):\n%s", got, dates[1], list)
	}
}
