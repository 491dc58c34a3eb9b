package service

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"scimdesk/internal/testtool"
	"scimdesk/scimserver"
)

// smallFS mounts a tmpfs of size bytes, a real file system that fills up, for the test.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		testtool.SkipUnlessCI(t, "cannot mount a small tmpfs to fill up (needs root or CAP_SYS_ADMIN): "+err.Error())
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file until the file system is full, then frees leave bytes of it.
func fill(t *testing.T, path string, leave int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// A short write may have used the last bytes; fill them one page at a time.
	for _, err := f.Write(chunk[:4096]); err == nil; _, err = f.Write(chunk[:4096]) {
	}
	if leave > 0 {
		fi, _ := f.Stat()
		if err := f.Truncate(fi.Size() - leave); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadyzFollowsTheDisk runs the service over a database on a small real file system
// with SCIM switched off, and checks /readyz: ready at first; not ready when the disk is
// full (the write probe fails too); not ready when space runs low even though writes
// still commit; ready again once space is freed. /healthz says alive throughout, and
// neither probe leaves a line per request in the log.
func TestReadyzFollowsTheDisk(t *testing.T) {
	dir := smallFS(t, "8m")
	dbPath := filepath.Join(dir, "scimdesk.db")
	d, _ := openDB(t, dbPath)
	if err := d.SetSCIMEnabled(context.Background(), false, "test"); err != nil {
		t.Fatal(err)
	}
	svc, logs := start(t, Config{
		DB:     d,
		SCIM:   scimserver.Config{Addr: "127.0.0.1:0", HeartbeatEvery: time.Hour},
		Health: Health{ProbeEvery: time.Millisecond, MinFreeBytes: 1 << 20},
	})
	base := svc.SCIM().BaseURL()
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	// waitReady polls /readyz until its answer is want: the probe's result is cached.
	waitReady := func(wantStatus int, want ...string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			status, body := get("/readyz")
			ok := status == wantStatus
			for _, w := range want {
				ok = ok && strings.Contains(body, w)
			}
			if ok {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz: %d %q, want %d with %q", status, body, wantStatus, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitReady(200, "ok")
	if status, body := get("/scim/v2/Users"); status != 401 && status != 403 {
		t.Fatalf("SCIM request: %d %s", status, body)
	}

	// The writer truncates the WAL once idle, so the next commit must grow it.
	walEmpty := time.Now().Add(20 * time.Second)
	for fi, err := os.Stat(dbPath + "-wal"); err == nil && fi.Size() > 0; fi, err = os.Stat(dbPath + "-wal") {
		if time.Now().After(walEmpty) {
			t.Fatalf("the WAL was never truncated: %d bytes", fi.Size())
		}
		time.Sleep(50 * time.Millisecond)
	}
	filler := filepath.Join(dir, "filler")
	fill(t, filler, 0)
	body := waitReady(503, errDiskFull.Error(), errNoWrite.Error())
	if status, hb := get("/healthz"); status != 200 || hb != "ok\n" {
		t.Errorf("/healthz on a full disk: %d %q, want 200 ok (alive, only not ready)", status, hb)
	}
	if strings.Contains(body, dir) {
		t.Errorf("/readyz tells anyone the database's path: %q", body)
	}

	// Low on space, but a commit still fits: not ready for the disk alone.
	if err := os.Truncate(filler, 0); err != nil {
		t.Fatal(err)
	}
	fill(t, filler, 256<<10)
	body = waitReady(503, errDiskFull.Error())
	if strings.Contains(body, errNoWrite.Error()) {
		t.Errorf("/readyz with room for a commit still says %q", body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitReady(200, "ok")
	if err := d.ProbeWrite(context.Background()); err != nil {
		t.Errorf("a write after space was freed: %v", err)
	}

	log := logs.String()
	if n := strings.Count(log, "not ready"); n < 1 || n > 4 {
		t.Errorf("the log says %q %d times: want each change of readiness once, not a line per request:\n%s", "not ready", n, log)
	}
	for _, path := range []string{"/readyz", "/healthz"} {
		if strings.Contains(log, path) {
			t.Errorf("the log names %s: probes must not be logged per request:\n%s", path, log)
		}
	}
}
