package tui

import (
	"context"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"scimdesk/internal/testtool"
	"strings"
	"testing"
	"time"
)

// TestEndToEndInTmux runs the real binary in tmux, as an admin would over SSH: it
// provisions a user over HTTP and reads it on the Users tab from the screen. tmux runs on
// a socket of its own, so the test never touches anyone else's sessions.
func TestEndToEndInTmux(t *testing.T) {
	if testing.Short() {
		testtool.SkipUnlessCI(t, "-short: this test builds and runs the binary")
	}
	testtool.NeedTmux(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "scimdesk")
	goBin, err := exec.LookPath("go")
	if err != nil { // go test may run with a PATH that lacks it: use the toolchain's own
		goBin = filepath.Join(build.Default.GOROOT, "bin", "go")
	}
	gobuild := exec.Command(goBin, "build", "-o", bin, "scimdesk")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dbPath := filepath.Join(dir, "scimdesk.db")

	socket := fmt.Sprintf("scimdesk-e2e-%d", os.Getpid())
	session := "e2e"
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-L", socket}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
		fmt.Sprintf("%s --db %s --addr %s", bin, dbPath, addr)); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { tmux("kill-session", "-t", session) })
	capture := func() string {
		out, _ := tmux("capture-pane", "-p", "-t", session)
		return out
	}
	waitScreen := func(texts ...string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			scr := capture()
			ok := true
			for _, s := range texts {
				ok = ok && strings.Contains(scr, s)
			}
			if ok {
				return scr
			}
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %q; it shows:\n%s", texts, scr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitScreen("1 Provisioning", "http://"+addr+"/scim/v2")

	// The CLI works beside the console on the same database.
	cli := func(args ...string) string {
		out, err := exec.Command(bin, append(args, "--db", dbPath)...).Output()
		if err != nil {
			t.Fatalf("scimdesk %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	secret := strings.TrimSpace(strings.SplitN(cli("token", "create", "--description", "e2e"), "\n", 2)[0])
	cli("scim", "enable")
	waitScreen("SCIM ● on")

	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"e2e.user@example.com",
		"name":{"givenName":"Eve","familyName":"Tmux"},"emails":[{"value":"e2e.user@example.com","primary":true}]}`
	req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+addr+"/scim/v2/Users", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /Users: %s", resp.Status)
	}

	tmux("send-keys", "-t", session, "3")
	scr := waitScreen("1 user", "e2e.user@example.com", "Eve Tmux", "pending")
	t.Logf("the Users tab in tmux:\n%s", scr)

	// The server runs in this console: q asks first, as quitting stops it.
	tmux("send-keys", "-t", session, "q")
	scr = waitScreen("Quit?", "stops the SCIM server on "+addr, "y yes")
	t.Logf("the quit question in tmux:\n%s", scr)
	tmux("send-keys", "-t", session, "y")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := tmux("has-session", "-t", session); err != nil {
			break // the console quit and its session closed
		}
		if time.Now().After(deadline) {
			t.Fatal("q did not quit the console")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
