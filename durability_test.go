package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// builtBinary builds the real scimdesk binary once per test run.
func builtBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scimdesk-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "scimdesk")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", binPath, ".")
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
func freeAddr(t *testing.T) string {
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
func startServe(t *testing.T, dbPath, addr string) *exec.Cmd {
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
// clients, SIGKILLs the server in the middle, restarts it, and checks that every user
// whose create was acknowledged (201) is there.
func TestKillLosesNoAcknowledgedWrite(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "durable.db")
	createDB(t, dbPath)
	run(t, "scim", "enable", "--db", dbPath)
	token := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "durability", "--ttl", "1d"), "\n", 2)[0]
	addr := freeAddr(t)
	srv := startServe(t, dbPath, addr)

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 5000; i++ {
				name := fmt.Sprintf("kill-%d-%d@example.com", w, i)
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/scim/v2/Users", strings.NewReader(`{"userName":"`+name+`"}`))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/scim+json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 201 {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	cancel()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no create was acknowledged before the kill")
	}

	// Restart on the same file (the WAL is recovered at open) and look for every user.
	startServe(t, dbPath, addr)
	list := run(t, "users", "list", "--db", dbPath)
	have := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(list))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 {
			have[f[1]] = true
		}
	}
	for _, name := range acked {
		if !have[name] {
			t.Errorf("acknowledged user %s lost after SIGKILL", name)
		}
	}
	t.Logf("%d acknowledged creates before SIGKILL, all present after restart", len(acked))
}

// TestDatabaseFileMode checks the database serve creates is 0600 and token secrets never
// reach it.
func TestDatabaseFileMode(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "mode.db")
	srv := startServe(t, dbPath, freeAddr(t))
	srv.Process.Kill()
	srv.Wait()
	secret := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "mode"), "\n", 2)[0]
	if !strings.HasPrefix(secret, "scim_") {
		t.Fatalf("first line is not the secret: %q", secret)
	}
	for _, p := range []string{dbPath, dbPath + "-wal"} {
		st, err := os.Stat(p)
		if err != nil {
			continue // the WAL may have been checkpointed away
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

// TestTokenTTL checks --ttl parsing through the real binary.
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
	run(t, "token", "create", "--db", dbPath, "--description", "month", "--ttl", "30d")
	list := run(t, "token", "list", "--db", dbPath)
	if !strings.Contains(list, "never") || strings.Count(list, "active") != 2 {
		t.Errorf("token list:\n%s", list)
	}
}
