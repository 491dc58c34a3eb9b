package scimserver

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"scimdesk/db"
)

// TestServerHoldsServingLock checks that a server holds the database's serving lock from
// Listen until Serve returns: a restore is refused while it serves (in this process, so
// neither the heartbeat nor the open-file check can see it: only the lock can) and works
// once it stopped.
func TestServerHoldsServingLock(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock on Windows: restore relies on the heartbeat there")
	}
	ctx := context.Background()
	dir := t.TempDir()
	src, err := db.Open(ctx, filepath.Join(dir, "src.db"))
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if _, err := src.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	src.Close()

	path := filepath.Join(dir, "live.db")
	d, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(d, Config{Addr: "127.0.0.1:0", HeartbeatEvery: time.Hour})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Restore(ctx, path, backup); !errors.Is(err, db.ErrServed) {
		t.Errorf("restore between Listen and Serve: %v, want ErrServed", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx) }()
	if _, err := db.Restore(ctx, path, backup); !errors.Is(err, db.ErrServed) {
		t.Errorf("restore while serving: %v, want ErrServed", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := db.Restore(ctx, path, backup); err != nil {
		t.Errorf("restore after the server stopped: %v", err)
	}
}
