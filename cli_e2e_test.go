package main

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/scimserver"
)

// provision creates a database at path with SCIM on and a token, and serves it on
// 127.0.0.1:0 in this process until the returned stop is called.
func provision(t *testing.T, path string) (base, token string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetSCIMEnabled(ctx, true, "test"); err != nil {
		t.Fatal(err)
	}
	if _, token, err = d.CreateToken(ctx, "test", 0, "test"); err != nil {
		t.Fatal(err)
	}
	srv := scimserver.New(d, scimserver.Config{Addr: "127.0.0.1:0", HeartbeatEvery: time.Hour})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		d.Close()
	}
	t.Cleanup(stop)
	return srv.SCIMURL(), token, stop
}

// runBoth runs the binary and returns stdout and stderr, failing the test if it fails.
func runBoth(t *testing.T, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(builtBinary(t), args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scimdesk %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// TestCLIOutputHasNoEscapes provisions, over SCIM, a user whose userName and displayName
// carry an OSC 52 clipboard write and a clear-screen sequence, and checks that `users
// list` and `users setup-code` print no ESC or BEL, while the name stays recognisable.
func TestCLIOutputHasNoEscapes(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "escapes.db")
	base, token, stop := provision(t, dbPath)
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"mallory\u001b]52;c;cm0gLXJmIH4K\u0007\u001b[2J@example.com",` +
		`"displayName":"Mal\u001b[2J\u001b]52;c;eHh4\u0007lory","emails":[{"value":"mallory@example.com","primary":true}]}`
	req, _ := http.NewRequest("POST", base+"/Users", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("create: %d", res.StatusCode)
	}
	stop() // the admin commands run against the file, as with a server next door

	out, _ := runBoth(t, "users", "list", "--db", dbPath)
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("users list printed an escape: %q", out)
	}
	if !strings.Contains(out, "mallory�]52;c;cm0gLXJmIH4K��[2J@example.com") || !strings.Contains(out, "Mal�[2J�]52;c;eHh4�lory") {
		t.Errorf("users list does not show the names recognisably:\n%s", out)
	}

	out, errOut := runBoth(t, "users", "setup-code", "--db", dbPath, "mallory@example.com")
	if strings.ContainsAny(out+errOut, "\x1b\x07") {
		t.Errorf("users setup-code printed an escape:\nstdout %q\nstderr %q", out, errOut)
	}
	if !strings.Contains(errOut, "Setup code for mallory�]52") {
		t.Errorf("setup-code stderr does not name the user: %q", errOut)
	}
}
