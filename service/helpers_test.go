package service

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testtool"
)

// openDB opens a real database at path with SCIM on and one token, whose secret it returns.
func openDB(t *testing.T, path string) (*db.DB, string) {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, path)
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

// start runs the service until the test ends and returns its log.
func start(t *testing.T, cfg Config) (*Service, *testtool.SyncBuffer) {
	t.Helper()
	svc, logs, run := listen(t, cfg)
	run()
	return svc, logs
}

// listen builds the service and binds its listeners; run runs it until the test ends.
func listen(t *testing.T, cfg Config) (svc *Service, logs *testtool.SyncBuffer, run func()) {
	t.Helper()
	logs = &testtool.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), nil))
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Listen(); err != nil {
		t.Fatal(err)
	}
	return svc, logs, func() { runUntilCleanup(t, svc) }
}

func runUntilCleanup(t *testing.T, svc *Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the service did not stop within 30s of its context ending")
		}
	})
}

// testWriter shows the service's log with the test's output when -v is given.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func tempDB(t *testing.T) string { return filepath.Join(t.TempDir(), "scimdesk.db") }
