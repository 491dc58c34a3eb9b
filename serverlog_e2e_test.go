package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scimdesk/internal/testtool"
)

// TestAttachedConsoleNamesServeLog runs `scimdesk serve --log-file` and, beside it, the
// console in tmux: the console attaches, and its footer names the file serve writes (from
// serve's heartbeat), not the scimdesk.log beside the database that it would write itself.
func TestAttachedConsoleNamesServeLog(t *testing.T) {
	if testing.Short() {
		testtool.SkipUnlessCI(t, "-short: this test builds and runs the binary")
	}
	tmux := testtool.NeedTmux(t)
	bin := builtBinary(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "s.db")
	logPath := filepath.Join(dir, "serve.log")
	createDB(t, dbPath)
	addr := freeAddr(t)
	serve := exec.Command(bin, "serve", "--db", dbPath, "--addr", addr, "--log-file", logPath)
	serve.Stderr = io.Discard
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not come up")
		}
	}

	session := fmt.Sprintf("scimdesk-log-%d", os.Getpid())
	if out, err := exec.Command(tmux, "new-session", "-d", "-s", session, "-x", "200", "-y", "30",
		fmt.Sprintf("%s --db %s --addr %s", bin, dbPath, freeAddr(t))).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(tmux, "kill-session", "-t", session).Run() })
	want := fmt.Sprintf("server log %s (pid %d)", logPath, serve.Process.Pid)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command(tmux, "capture-pane", "-p", "-t", session).Output()
		scr := string(out)
		if strings.Contains(scr, "attached to the server running in pid") && strings.Contains(scr, want) {
			if strings.Contains(scr, filepath.Join(dir, "scimdesk.log")) {
				t.Errorf("the console names its own log file:\n%s", scr)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console never showed %q; it shows:\n%s", want, scr)
		}
	}
}
