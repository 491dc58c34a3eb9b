package db

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBackupUnderWriteLoadRestores takes a backup while several goroutines create users
// as fast as the writer takes them, restores it into a new path and finds there every user
// whose creation was acknowledged before the backup began, in a file that passes the
// integrity check. The backup is 0600 and carries no heartbeat.
func TestBackupUnderWriteLoadRestores(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	if err := d.WriteHeartbeat(ctx, Heartbeat{Instance: NewInstanceID(), PID: os.Getpid(), Addr: "127.0.0.1:1", Beat: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				u := User{ID: id, UserName: id + "@example.com", Active: true, Doc: []byte(`{}`)}
				if err := d.Write(ctx, func(tx *Tx) error { return tx.InsertUser(ctx, &u) }); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	waitFor := func(n int) {
		for {
			mu.Lock()
			got := len(acked)
			mu.Unlock()
			if got >= n || t.Failed() {
				return
			}
			runtime.Gosched()
		}
	}
	waitFor(200)
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	to := filepath.Join(t.TempDir(), "backup.db")
	info, err := d.Backup(ctx, to)
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	waitFor(len(before) + during + 50) // the load goes on after the backup too
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup of %d users, %d bytes; %d creates acknowledged while it ran", info.Users, info.Size, during)
	if info.Users < len(before) {
		t.Errorf("backup counts %d users, fewer than the %d acknowledged before it began", info.Users, len(before))
	}
	if fi, err := os.Stat(to); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != info.Size {
		t.Errorf("backup file: %v %v, want mode 0600 and size %d", fi.Mode(), err, info.Size)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(to), ".*")); len(leftovers) > 0 {
		t.Errorf("temporary files left beside the backup: %v", leftovers)
	}

	restored := filepath.Join(t.TempDir(), "sub", "restored.db")
	if _, err := Restore(ctx, restored, to); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(restored); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored file: %v %v, want mode 0600", fi.Mode(), err)
	}
	if _, err := Verify(ctx, restored); err != nil {
		t.Errorf("the restored database fails its check: %v", err)
	}
	r, err := Open(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, id := range before {
		if _, err := r.UserByID(ctx, id); err != nil {
			t.Fatalf("user %s, acknowledged before the backup began, is not in the restore: %v", id, err)
		}
	}
	// Counted in the table, not read as fresh: a slow run must not hide a copied row.
	var beats int
	if err := r.rc.QueryRowContext(ctx, `SELECT count(*) FROM heartbeats`).Scan(&beats); err != nil || beats != 0 {
		t.Errorf("the restored database carries %d heartbeats (err %v): it would look served", beats, err)
	}
}

// backupOf writes a backup of a fresh database holding two users and returns its path.
func backupOf(t *testing.T) string {
	t.Helper()
	d, _ := openTest(t)
	insertUser(t, d, "u1", "a@example.com")
	insertUser(t, d, "u2", "b@example.com")
	to := filepath.Join(t.TempDir(), "backup.db")
	if _, err := d.Backup(context.Background(), to); err != nil {
		t.Fatal(err)
	}
	return to
}

// TestBackupNeverOverwrites checks that a backup refuses a name that is taken, even by an
// empty file (which VACUUM INTO itself would accept), and leaves that file alone.
func TestBackupNeverOverwrites(t *testing.T) {
	d, _ := openTest(t)
	dir := t.TempDir()
	for name, body := range map[string]string{"empty": "", "taken": "precious"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Backup(context.Background(), p); !errors.Is(err, ErrExists) {
			t.Errorf("backup onto the %s file: %v, want ErrExists", name, err)
		}
		if b, _ := os.ReadFile(p); string(b) != body {
			t.Errorf("the %s file was changed: %q", name, b)
		}
	}
	if _, err := d.Backup(context.Background(), filepath.Join(dir, "missing", "b.db")); err == nil {
		t.Error("backup into a directory that does not exist succeeded")
	}
}

// TestRestoreRefusesBadBackups restores files that must not be restored (damaged pages,
// a newer schema, not SQLite, SQLite without scimdesk's tables) over a database and checks
// that each is refused with the right error and the database is untouched.
func TestRestoreRefusesBadBackups(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Garbage over an index that nothing but the integrity check reads: the copy itself
	// (VACUUM INTO rebuilds indexes from the tables) would succeed.
	damaged := backupOf(t)
	c, err := sql.Open("sqlite", fileURI(damaged, ""))
	if err != nil {
		t.Fatal(err)
	}
	var root, pageSize int64
	if err := c.QueryRow(`SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_master
		WHERE tbl_name = 'setup_codes' AND type = 'index'`).Scan(&root, &pageSize); err != nil {
		t.Fatal(err)
	}
	c.Close()
	f, err := os.OpenFile(damaged, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", int(pageSize))), (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	f.Close()

	newer := backupOf(t)
	c, err = sql.Open("sqlite", fileURI(newer, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(`INSERT INTO migrations (name, applied_at) VALUES ('migrations/9999_from_the_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	c.Close()

	notSQLite := filepath.Join(dir, "notes.txt")
	os.WriteFile(notSQLite, []byte("not a database, but long enough to have a header\n"), 0o600)
	foreign := filepath.Join(dir, "foreign.db")
	c, _ = sql.Open("sqlite", fileURI(foreign, ""))
	if _, err := c.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	c.Close()

	target := filepath.Join(dir, "live.db")
	d, err := Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	insertUser(t, d, "keep", "keep@example.com")
	d.Close()
	for _, tc := range []struct {
		name, from string
		want       error
	}{
		{"damaged", damaged, ErrDamaged},
		{"newer schema", newer, ErrNewerSchema},
		{"not SQLite", notSQLite, ErrNotDatabase},
		{"foreign SQLite", foreign, ErrNotDatabase},
		{"missing", filepath.Join(dir, "nowhere.db"), os.ErrNotExist},
	} {
		if _, err := Restore(ctx, target, tc.from); !errors.Is(err, tc.want) {
			t.Errorf("%s: restore says %v, want %v", tc.name, err, tc.want)
		}
	}
	d, err = Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.UserByID(ctx, "keep"); err != nil {
		t.Errorf("the database lost its user after refused restores: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".live.db.restore-*")); len(left) > 0 {
		t.Errorf("refused restores left %v", left)
	}
}

// TestRestoreRefusesToReplaceNonDatabase checks that restore does not overwrite a file at
// --db that is not a SQLite database (a mistyped path).
func TestRestoreRefusesToReplaceNonDatabase(t *testing.T) {
	from := backupOf(t)
	target := filepath.Join(t.TempDir(), "thesis.tex")
	os.WriteFile(target, []byte("\\documentclass{article} and more than sixteen bytes"), 0o600)
	if _, err := Restore(context.Background(), target, from); !errors.Is(err, ErrNotDatabase) {
		t.Errorf("restore over a file that is not a database: %v, want ErrNotDatabase", err)
	}
	if b, _ := os.ReadFile(target); !strings.HasPrefix(string(b), "\\documentclass") {
		t.Errorf("the file was replaced: %.40q", b)
	}
}

// holder runs this test binary as another process that opens the database at path (and,
// with serve, holds the serving lock and writes a heartbeat as a server does) until the
// test ends or stop is called.
func holder(t *testing.T, path string, serve bool) (pid int, stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHolder$")
	cmd.Env = append(os.Environ(), "SCIMDESK_TEST_HOLD="+path, "SCIMDESK_TEST_SERVE="+strconv.FormatBool(serve))
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "ready") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("holder process: %q", line)
	}
	var once sync.Once
	stop = func() { once.Do(func() { in.Close(); cmd.Wait() }) }
	t.Cleanup(stop)
	return cmd.Process.Pid, stop
}

// TestHelperHolder is the other process of holder, not a test of its own.
func TestHelperHolder(t *testing.T) {
	path := os.Getenv("SCIMDESK_TEST_HOLD")
	if path == "" {
		t.Skip("the other process of TestRestoreRefusesWhileServedOrOpen")
	}
	ctx := context.Background()
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SCIMDESK_TEST_SERVE") == "true" {
		release, err := d.HoldServing()
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if err := d.WriteHeartbeat(ctx, Heartbeat{Instance: NewInstanceID(), Host: ThisHost(), PID: os.Getpid(), Addr: "127.0.0.1:4242",
			Beat: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	d.Close()
}

// TestRestoreRefusesWhileServedOrOpen restores over a database that another process
// serves (it holds the serving lock; with its heartbeat gone stale, only the lock can tell),
// then one that another process merely has open, and checks that both are refused naming
// that process, with the database untouched, and that the restore works once it is gone.
func TestRestoreRefusesWhileServedOrOpen(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock or POSIX locks on Windows: restore relies on the heartbeat there")
	}
	ctx := context.Background()
	from := backupOf(t)
	target := filepath.Join(t.TempDir(), "live.db")
	d, err := Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	insertUser(t, d, "old", "old@example.com")
	d.Close()

	pid, stop := holder(t, target, true)
	_, err = Restore(ctx, target, from)
	if !errors.Is(err, ErrServed) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", pid)) {
		t.Errorf("restore while served: %v, want ErrServed naming pid %d", err, pid)
	}
	// Make the heartbeat stale: the lock alone must still refuse (a server in its first
	// moments, or one whose beats are late).
	c, _ := sql.Open("sqlite", fileURI(target, "_pragma=busy_timeout(5000)"))
	if _, err := c.Exec(`UPDATE heartbeats SET beat_at = 0`); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err = Restore(ctx, target, from); !errors.Is(err, ErrServed) {
		t.Errorf("restore while served with a stale heartbeat: %v, want ErrServed", err)
	}
	stop()

	pid, stop = holder(t, target, false)
	_, err = Restore(ctx, target, from)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", pid)) {
		t.Errorf("restore while open: %v, want ErrInUse naming process %d", err, pid)
	}
	stop()

	if _, err := Restore(ctx, target, from); err != nil {
		t.Fatalf("restore once nobody has it open: %v", err)
	}
	d, err = Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.UserByID(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old database's user is still there after the restore: %v", err)
	}
	if _, err := d.UserByID(ctx, "u1"); err != nil {
		t.Errorf("the backup's user is not there after the restore: %v", err)
	}
}
