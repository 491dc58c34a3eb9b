package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
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

// createDB makes a scimdesk database at path, as the console or serve does on first run.
func createDB(t *testing.T, path string) {
	t.Helper()
	d, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}

// TestAdminCommandsRefuseMissingDatabase runs every admin command against paths where no
// database is (a mistyped file, a missing directory, the default path, a file that is not
// a database) and checks that each fails naming the path, and creates nothing.
func TestAdminCommandsRefuseMissingDatabase(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte("not a database\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	commands := [][]string{
		{"token", "create", "--description", "x"}, {"token", "list"}, {"token", "revoke", "tok_000000000000"},
		{"scim", "enable"}, {"scim", "disable"}, {"scim", "status"},
		{"users", "list"}, {"users", "setup-code", "a@example.com"}, {"users", "recovery-code", "a@example.com"},
		{"oidc", "set", "--issuer", "https://idp.example.com", "--client-id", "c1"}, {"oidc", "show"}, {"oidc", "clear"},
	}
	xdg := filepath.Join(dir, "xdg")
	paths := []struct {
		name, path string
		env        []string
	}{
		{"mistyped file", filepath.Join(dir, "scimdsk.db"), nil},
		{"missing directory", filepath.Join(dir, "nowhere", "deeper", "scim.db"), nil},
		{"SCIMDESK_DB", filepath.Join(dir, "env.db"), []string{"SCIMDESK_DB=" + filepath.Join(dir, "env.db")}},
		{"default path", filepath.Join(xdg, "scimdesk", "scimdesk.db"), []string{"XDG_DATA_HOME=" + xdg, "SCIMDESK_DB="}},
		{"not a database", notDB, nil},
	}
	for _, p := range paths {
		for _, args := range commands {
			if p.env == nil {
				args = append(args, "--db", p.path)
			}
			cmd := exec.Command(builtBinary(t), args...)
			cmd.Env = append(os.Environ(), p.env...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if err == nil {
				t.Errorf("%s: scimdesk %s succeeded: %s", p.name, strings.Join(args, " "), stdout.String())
			}
			if !strings.Contains(stderr.String(), p.path) {
				t.Errorf("%s: scimdesk %s: the error does not name %s: %q", p.name, strings.Join(args, " "), p.path, stderr.String())
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "notes.txt" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the admin commands created %v beside notes.txt", names)
	}
	if b, _ := os.ReadFile(notDB); string(b) != "not a database\n" {
		t.Errorf("the file that is not a database was changed: %q", b)
	}
}

// TestServeMaxConns checks that SCIMDESK_MAX_CONNS reaches the server of `scimdesk
// serve`: with the cap at 5 and 5 idle keep-alive connections held, a new client is
// answered and one of the held connections is closed to make room.
func TestServeMaxConns(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "conns.db")
	addr := freeAddr(t)
	cmd := exec.Command(builtBinary(t), "serve", "--db", dbPath, "--addr", addr)
	cmd.Env = append(os.Environ(), "SCIMDESK_MAX_CONNS=5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var held []net.Conn
	for deadline := time.Now().Add(15 * time.Second); len(held) < 5; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("serve did not come up")
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			continue
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		held = append(held, c)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz at the cap: %v", err)
	}
	res.Body.Close()
	closed := 0
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed == 0 {
		t.Error("no held connection was closed: the cap of 5 did not apply")
	}
}

// TestAdminCommandsDoWhatTheySay runs the admin commands of the real binary against a
// `scimdesk serve` whose database holds users in every state (two pending, two ready, two
// deactivated) and two tokens, and checks what each command did, as the identity provider
// and the admin would see it: `users list --status X` lists exactly the X users (with one
// user of each kind an ignored filter would still pass, so there are several of each),
// `token revoke` makes that token, and only that one, get 401, and `scim disable` makes
// SCIM requests get 403 until `scim enable`.
func TestAdminCommandsDoWhatTheySay(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "effects.db")
	createDB(t, dbPath)
	run(t, "scim", "enable", "--db", dbPath)
	keep := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "okta"), "\n", 2)[0]
	victim := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "leaked"), "\n", 2)[0]
	addr := freeAddr(t)
	startServe(t, dbPath, addr)
	base := "http://" + addr + "/scim/v2"

	create := func(name string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/Users", strings.NewReader(`{"userName":"`+name+`"}`))
		req.Header.Set("Authorization", "Bearer "+keep)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var u struct{ ID string }
		if err := json.NewDecoder(res.Body).Decode(&u); err != nil || res.StatusCode != http.StatusCreated {
			t.Fatalf("create %s: %d %v", name, res.StatusCode, err)
		}
		return u.ID
	}
	want := map[string][]string{
		"pending":     {"pat@example.com", "pia@example.com"},
		"ready":       {"rex@example.com", "rue@example.com"},
		"deactivated": {"dan@example.com", "dot@example.com"},
	}
	ids := map[string]string{}
	for _, names := range want {
		for _, n := range names {
			ids[n] = create(n)
		}
	}
	for _, n := range want["deactivated"] {
		if got := scimStatus(t, "PATCH", base+"/Users/"+ids[n], keep,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`); got != http.StatusOK {
			t.Fatalf("deactivate %s: %d", n, got)
		}
	}
	// A ready user is one who stored a master key; what `scimdesk setup` stores, stored
	// here directly (the real setup flow has its own end-to-end test).
	d, err := db.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range want["ready"] {
		err := d.Write(context.Background(), func(tx *db.Tx) error {
			u, err := tx.UserByID(context.Background(), ids[n])
			if err != nil {
				return err
			}
			return tx.InsertUserKey(context.Background(), u.Seq, db.UserKey{Alg: "x25519", PublicKey: make([]byte, 32), Passphrase: "{}", Recovery: "{}"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	d.Close()

	// users list --status X: exactly the X users, each shown with its status.
	listed := func(args ...string) map[string]string {
		t.Helper()
		got := map[string]string{}
		for _, line := range strings.Split(run(t, append([]string{"users", "list", "--db", dbPath}, args...)...), "\n")[1:] {
			if f := strings.Fields(line); len(f) >= 2 {
				got[f[1]] = f[0]
			}
		}
		return got
	}
	all := listed()
	if len(all) != 6 {
		t.Errorf("users list shows %d users, want 6: %v", len(all), all)
	}
	for status, names := range want {
		got := listed("--status", status)
		if len(got) != len(names) {
			t.Errorf("users list --status %s lists %v, want exactly %v", status, got, names)
		}
		for _, n := range names {
			if got[n] != status || all[n] != status {
				t.Errorf("users list --status %s: %s shows as %q (%q unfiltered), want %s", status, n, got[n], all[n], status)
			}
		}
	}
	if out := run(t, "scim", "status", "--db", dbPath); !strings.Contains(out, "Users:    6 (2 pending, 2 ready, 2 deactivated)") {
		t.Errorf("scim status counts:\n%s", out)
	}

	// token revoke: that token gets 401 at once, the other still works.
	if got := scimStatus(t, "GET", base+"/Users?count=1", victim, ""); got != http.StatusOK {
		t.Fatalf("the token to revoke does not work before: %d", got)
	}
	if out := run(t, "token", "revoke", "--db", dbPath, tokenID(t, dbPath, "leaked")); !strings.Contains(out, "Revoked token") {
		t.Errorf("token revoke says %q", out)
	}
	if got := scimStatus(t, "GET", base+"/Users?count=1", victim, ""); got != http.StatusUnauthorized {
		t.Errorf("the revoked token's next request: %d, want 401", got)
	}
	if got := scimStatus(t, "GET", base+"/Users?count=1", keep, ""); got != http.StatusOK {
		t.Errorf("the other token after the revoke: %d, want 200", got)
	}
	for _, line := range strings.Split(run(t, "token", "list", "--db", dbPath), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && (f[1] == "leaked") != (f[len(f)-1] == "revoked") {
			t.Errorf("token list after the revoke: %q", line)
		}
	}
	if out, err := exec.Command(builtBinary(t), "token", "revoke", "--db", dbPath, "tok_000000000000").CombinedOutput(); err == nil {
		t.Errorf("revoking a token that does not exist succeeded: %s", out)
	}

	// scim disable: 403, and scim status says so; scim enable: served again.
	run(t, "scim", "disable", "--db", dbPath)
	if got := scimStatus(t, "GET", base+"/Users?count=1", keep, ""); got != http.StatusForbidden {
		t.Errorf("a SCIM request after scim disable: %d, want 403", got)
	}
	if out := run(t, "scim", "status", "--db", dbPath); !strings.Contains(out, "SCIM:     disabled") {
		t.Errorf("scim status after disable:\n%s", out)
	}
	run(t, "scim", "enable", "--db", dbPath)
	if got := scimStatus(t, "GET", base+"/Users?count=1", keep, ""); got != http.StatusOK {
		t.Errorf("a SCIM request after scim enable: %d, want 200", got)
	}
}
