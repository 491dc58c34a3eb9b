package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "scimdesk/db" // the SQLite driver
)

// tokenID finds the id of the token with the given description in `token list`.
func tokenID(t *testing.T, dbPath, description string) string {
	t.Helper()
	for _, line := range strings.Split(run(t, "token", "list", "--db", dbPath), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == description {
			return f[0]
		}
	}
	t.Fatalf("no token %q in token list", description)
	return ""
}

// scimStatus sends one SCIM request and returns its status.
func scimStatus(t *testing.T, method, url, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// TestAdminCommandsWorkUnderWriteLoad runs the admin commands of the real binary while
// `scimdesk serve` takes SCIM writes at full speed from several clients: each succeeds,
// and a revoke or a disable applies to the server's very next request.
func TestAdminCommandsWorkUnderWriteLoad(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "admin.db")
	createDB(t, dbPath)
	run(t, "scim", "enable", "--db", dbPath)
	loadToken := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "load"), "\n", 2)[0]
	victim := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "stolen"), "\n", 2)[0]
	victimID := tokenID(t, dbPath, "stolen")
	addr := freeAddr(t)
	startServe(t, dbPath, addr)
	base := "http://" + addr + "/scim/v2"

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writes, failures atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 20000; i++ {
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/Users",
					strings.NewReader(fmt.Sprintf(`{"userName":"load-%d-%d@example.com"}`, w, i)))
				req.Header.Set("Authorization", "Bearer "+loadToken)
				req.Header.Set("Content-Type", "application/scim+json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusCreated {
					writes.Add(1)
				} else if res.StatusCode != http.StatusForbidden { // 403 once SCIM is off
					failures.Add(1)
				}
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()
	for writes.Load() < 200 {
		time.Sleep(20 * time.Millisecond)
	}

	admin := func(args ...string) {
		t.Helper()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, builtBinary(t), append(args, "--db", dbPath)...)
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("scimdesk %s under load: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("scimdesk %s: %s under load", strings.Join(args, " "), time.Since(t0).Round(time.Millisecond))
	}
	admin("token", "list")
	admin("users", "list", "--status", "pending")
	admin("token", "revoke", victimID)
	if got := scimStatus(t, "GET", base+"/Users?count=1", victim, ""); got != http.StatusUnauthorized {
		t.Errorf("the revoked token's next request: %d, want 401", got)
	}
	admin("scim", "disable")
	if got := scimStatus(t, "GET", base+"/Users?count=1", loadToken, ""); got != http.StatusForbidden {
		t.Errorf("the next request after scim disable: %d, want 403", got)
	}
	stop()
	wg.Wait()
	if failures.Load() > 0 {
		t.Errorf("%d SCIM writes failed during the admin commands", failures.Load())
	}
	t.Logf("%d SCIM creates ran beside the admin commands", writes.Load())
}

// TestNewerDatabaseIsRefusedByTheBinary: a database written by a newer scimdesk is
// refused by every command with a clear message, and left exactly as it was.
func TestNewerDatabaseIsRefusedByTheBinary(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "future.db")
	createDB(t, dbPath)
	run(t, "token", "create", "--db", dbPath, "--description", "x")
	raw, err := sql.Open("sqlite", dbPath) // as a newer scimdesk would have left it
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO migrations (name, applied_at) VALUES ('migrations/9000_newer.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"token", "list"}, {"scim", "disable"}, {"serve", "--addr", "127.0.0.1:0"}} {
		cmd := exec.Command(builtBinary(t), append(args, "--db", dbPath)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(string(out), "newer version of scimdesk") {
			t.Errorf("scimdesk %s on a newer database: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	after, _ := os.ReadFile(dbPath)
	if string(after) != string(before) {
		t.Error("refusing the newer database changed its file")
	}
	if fi, err := os.Stat(dbPath + "-wal"); err == nil && fi.Size() > 0 {
		t.Errorf("refusing the newer database left a %d-byte WAL", fi.Size())
	}
}

// TestLooseFileModesAreFixedByTheBinary: a database made readable by others is set back
// to 0600 by the next command that opens it, which says so on stderr.
func TestLooseFileModesAreFixedByTheBinary(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "loose.db")
	createDB(t, dbPath)
	if err := os.Chmod(dbPath, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(builtBinary(t), "token", "list", "--db", dbPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("token list: %v\n%s", err, stderr.String())
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database is %s after token list, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(stderr.String(), "readable by others") {
		t.Errorf("no warning on stderr: %q", stderr.String())
	}
}
