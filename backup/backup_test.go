package backup

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testtool"
)

func openDB(t *testing.T) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "scimdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// TestTakeKeepsNewestAndLeavesForeignFiles takes ten backups a day apart with Keep 3 in
// a directory that also holds files the schedule did not write (a manual backup, another
// database's scheduled backups, a near miss of the name pattern, a directory), and checks
// that exactly the three newest of its own remain, each 0600 and a good database, and
// every foreign file is untouched.
func TestTakeKeepsNewestAndLeavesForeignFiles(t *testing.T) {
	d := openDB(t)
	dir := t.TempDir()
	foreign := []string{"manual.db", "other-20200101T000000Z.db", "scimdesk-20200101T000000Z.db.bak",
		"scimdesk-2020-01-01.db", "notes.txt"}
	for _, f := range foreign {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "scimdesk-20200102T000000Z.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := Schedule{Dir: dir, Every: 24 * time.Hour, Keep: 3}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	day0 := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	for i := range 10 {
		if _, err := s.Take(context.Background(), d, day0.Add(time.Duration(i)*24*time.Hour), log); err != nil {
			t.Fatal(err)
		}
	}
	files, err := s.List(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"scimdesk-20261208T040000Z.db", "scimdesk-20261209T040000Z.db", "scimdesk-20261210T040000Z.db"}
	if len(files) != len(want) {
		t.Fatalf("%d backups kept, want %d: %v", len(files), len(want), names(t, dir))
	}
	for i, f := range files {
		if filepath.Base(f.Path) != want[i] {
			t.Errorf("kept %s, want %s", filepath.Base(f.Path), want[i])
		}
		fi, err := os.Stat(f.Path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v %v, want 0600", f.Path, fi.Mode(), err)
		}
		if _, err := db.Verify(context.Background(), f.Path); err != nil {
			t.Errorf("%s: %v", f.Path, err)
		}
	}
	for _, f := range foreign {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(b) != "mine" {
			t.Errorf("foreign file %s: %q %v", f, b, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "scimdesk-20200102T000000Z.db")); err != nil || !fi.IsDir() {
		t.Errorf("the directory named like a backup was touched: %v", err)
	}
	if got := len(names(t, dir)); got != len(foreign)+1+len(want) {
		t.Errorf("directory holds %v", names(t, dir))
	}
}

// runUntil runs the schedule until the log holds want (or the test gives up after a
// generous bound), then stops it and returns the log.
func runUntil(t *testing.T, s Schedule, d *db.DB, want string) string {
	t.Helper()
	var buf testtool.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, d, slog.New(slog.NewTextHandler(&buf, nil))); close(done) }()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(buf.String(), want) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	return buf.String()
}

// TestRunBacksUpAtStartOnlyWhenDue starts the schedule three times: on an empty
// directory (a backup at once), with a backup from two days ago and Every 24h (one at
// once), and with one just taken (none: the next is due in a day). It also checks
// that a backup that failed (an unwritable directory) is logged and Run goes on, and that
// leftovers of an interrupted backup are removed.
func TestRunBacksUpAtStartOnlyWhenDue(t *testing.T) {
	d := openDB(t)
	dir := filepath.Join(t.TempDir(), "backups")
	s := Schedule{Dir: dir, Every: 24 * time.Hour, Keep: 5}

	out := runUntil(t, s, d, "backup written")
	if files, _ := s.List(d.Path()); len(files) != 1 {
		t.Fatalf("empty directory: %d backups after start-up, want 1\n%s", len(files), out)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("backup directory: %v %v, want 0700", fi.Mode(), err)
	}

	// Make the one backup two days old, and leave what a crash mid-backup leaves.
	files, _ := s.List(d.Path())
	old := filepath.Join(dir, "scimdesk-"+time.Now().UTC().Add(-48*time.Hour).Format(stampLayout)+".db")
	if err := os.Rename(files[0].Path, old); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(dir, ".scimdesk-20261201T040000Z.db.partial-123456")
	os.WriteFile(partial, nil, 0o600)
	out = runUntil(t, s, d, "backup written")
	if files, _ := s.List(d.Path()); len(files) != 2 {
		t.Errorf("newest backup two days old: %d backups after start-up, want 2\n%s", len(files), out)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("the interrupted backup's file is still there: %v", err)
	}

	// The newest is fresh now: a start-up takes none; Run says when the next is due.
	out = runUntil(t, s, d, "scheduled backups")
	if files, _ := s.List(d.Path()); len(files) != 2 {
		t.Errorf("fresh backup present: %d backups after start-up, want 2\n%s", len(files), out)
	}
	if strings.Contains(out, "backup written") {
		t.Errorf("a backup was taken although the newest is fresh:\n%s", out)
	}
	m := regexp.MustCompile(`next=(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("Run does not say when the next backup is due:\n%s", out)
	}
	if next, err := time.Parse(time.RFC3339, m[1]); err != nil || time.Until(next) < 23*time.Hour {
		t.Errorf("with a fresh backup, the next is due at %s (%v), want a day from now", m[1], err)
	}

	// A failed backup is logged with its cause and leaves what was there alone: here the
	// name is taken (a clock set back).
	var buf testtool.SyncBuffer
	files, _ = s.List(d.Path())
	before, _ := os.ReadFile(files[0].Path)
	if _, err := s.Take(context.Background(), d, files[0].At, slog.New(slog.NewTextHandler(&buf, nil))); err == nil {
		t.Error("a backup onto a taken name succeeded")
	}
	if !strings.Contains(buf.String(), "backup failed") || !strings.Contains(buf.String(), "already exists") {
		t.Errorf("a failed backup is not logged with its cause:\n%s", buf.String())
	}
	if after, _ := os.ReadFile(files[0].Path); !bytes.Equal(before, after) {
		t.Error("a failed backup changed the backup it collided with")
	}

	// No backup yet and a directory it cannot write: Run logs the failure with its cause
	// and goes on (it stops only when told to).
	if os.Getuid() == 0 {
		t.Log("running as root, which writes anywhere: the failure case is not tested")
		return
	}
	for _, f := range files {
		os.Remove(f.Path)
	}
	os.Remove(old)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	out = runUntil(t, s, d, "backup failed")
	if !strings.Contains(out, "backup failed") || !strings.Contains(out, "permission denied") {
		t.Errorf("a failed backup is not logged with its cause:\n%s", out)
	}
}
