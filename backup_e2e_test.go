package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"scimdesk/db"
)

// runExit runs the binary and returns stdout, stderr and the exit code.
func runExit(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(builtBinary(t), args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	}
	t.Fatalf("scimdesk %s: %v", strings.Join(args, " "), err)
	return "", "", -1
}

// TestBackupRestoreRoundTrip drives `scimdesk backup` and `scimdesk restore` of the real
// binary against a real `scimdesk serve` taking SCIM creates from several clients: the
// backup, taken under that load, is refused a second time onto the same name; a backup
// of a database that does not exist is refused; a restore from a file that is not a
// database is refused; the restore is refused while the server serves, naming its pid,
// and works once it stopped; the restored database holds every
// user whose 201 arrived before the backup began, passes the integrity check, and serves.
func TestBackupRestoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "live.db")
	createDB(t, dbPath)
	run(t, "scim", "enable", "--db", dbPath)
	token := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "load"), "\n", 2)[0]
	addr := freeAddr(t)
	serve := startServe(t, dbPath, addr)
	base := "http://" + addr + "/scim/v2"

	var mu sync.Mutex
	var acked []string
	enough := make(chan struct{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", base+"/Users", strings.NewReader(fmt.Sprintf(`{"userName":"c%d-%d@example.com"}`, c, i)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/scim+json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var u struct{ ID string }
				err = json.NewDecoder(res.Body).Decode(&u)
				res.Body.Close()
				if err != nil || res.StatusCode != http.StatusCreated {
					t.Errorf("create: %d %v", res.StatusCode, err)
					return
				}
				mu.Lock()
				acked = append(acked, u.ID)
				if len(acked) == 100 {
					close(enough)
				}
				mu.Unlock()
			}
		}()
	}
	<-enough
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	backupPath := filepath.Join(dir, "backups", "live-1.db")
	os.Mkdir(filepath.Dir(backupPath), 0o700)
	out, errOut, code := runExit(t, "backup", "--db", dbPath, "--to", backupPath)
	close(stop)
	wg.Wait()
	if code != 0 || !strings.Contains(out, "written to "+backupPath) || !strings.Contains(out, " users, ") {
		t.Fatalf("backup under load: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	t.Logf("backup: %s(%d creates acknowledged before it began, %d in all)", out, len(before), len(acked))
	if fi, err := os.Stat(backupPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v %v, want 0600", fi.Mode(), err)
	}
	written, _ := os.ReadFile(backupPath)

	if _, errOut, code := runExit(t, "backup", "--db", dbPath, "--to", backupPath); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("backup onto an existing file: exit %d, stderr %q", code, errOut)
	}
	if b, _ := os.ReadFile(backupPath); string(b) != string(written) {
		t.Error("the refused backup changed the existing file")
	}
	missing := filepath.Join(dir, "nowhere.db")
	if _, errOut, code := runExit(t, "backup", "--db", missing, "--to", filepath.Join(dir, "x.db")); code != 1 || !strings.Contains(errOut, "no database at "+missing) {
		t.Errorf("backup of a database that does not exist: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); !os.IsNotExist(err) {
		t.Errorf("a refused backup created its target: %v", err)
	}

	_, errOut, code = runExit(t, "restore", "--db", dbPath, "--from", backupPath)
	if want := fmt.Sprintf("scimdesk (pid %d) serves it on %s", serve.Process.Pid, addr); code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("restore while served: exit %d, stderr %q, want %q", code, errOut, want)
	}
	if res, err := http.Get("http://" + addr + "/healthz"); err != nil {
		t.Errorf("the server after the refused restore: %v", err)
	} else {
		res.Body.Close()
	}

	notDB := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDB, []byte("these are notes, not a database\n"), 0o600)
	if _, errOut, code := runExit(t, "restore", "--db", dbPath, "--from", notDB); code != 1 || !strings.Contains(errOut, "not a scimdesk database") {
		t.Errorf("restore from a file that is not a database: exit %d, stderr %q", code, errOut)
	}

	serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve did not stop cleanly: %v", err)
	}
	out, errOut, code = runExit(t, "restore", "--db", dbPath, "--from", backupPath)
	if code != 0 || !strings.Contains(out, "Restored "+dbPath+" from "+backupPath) {
		t.Fatalf("restore once stopped: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if fi, err := os.Stat(dbPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored database: %v %v, want 0600", fi.Mode(), err)
	}
	if _, err := db.Verify(context.Background(), dbPath); err != nil {
		t.Errorf("the restored database: %v", err)
	}
	d, err := db.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range before {
		if _, err := d.UserByID(context.Background(), id); err != nil {
			t.Fatalf("user %s, acknowledged before the backup began, is not in the restored database: %v", id, err)
		}
	}
	d.Close()

	startServe(t, dbPath, addr)
	if got := scimStatus(t, "GET", base+"/Users/"+before[0], token, ""); got != http.StatusOK {
		t.Errorf("the restored database served: GET a restored user: %d", got)
	}
}
