package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"scimdesk/db"
	"scimdesk/internal/testidp"
	"scimdesk/internal/testtool"
)

// TestOIDCCommands: `oidc set` refuses an issuer that is not https (plain http only on
// loopback) and stores a good one, `oidc show` says it, `oidc clear` removes it, and each
// change is in the audit log under the admin's cli: name.
func TestOIDCCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oidc.db")
	createDB(t, path)
	for _, issuer := range []string{"http://idp.example.com", "idp.example.com", "https://idp.example.com/?a=b"} {
		cmd := exec.Command(builtBinary(t), "oidc", "set", "--db", path, "--issuer", issuer, "--client-id", "0oa1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "issuer") {
			t.Errorf("oidc set --issuer %s: %v %s", issuer, err, out)
		}
	}
	if out := run(t, "oidc", "show", "--db", path); !strings.Contains(out, "not set up") {
		t.Errorf("oidc show on a new database: %q", out)
	}
	run(t, "oidc", "set", "--db", path, "--issuer", "https://example.okta.com", "--client-id", "0oa1b2c3")
	if out := run(t, "oidc", "show", "--db", path); !strings.Contains(out, "https://example.okta.com, client id 0oa1b2c3") {
		t.Errorf("oidc show: %q", out)
	}
	run(t, "oidc", "set", "--db", path, "--issuer", "http://127.0.0.1:9000", "--client-id", "local")
	run(t, "oidc", "clear", "--db", path)
	if out := run(t, "oidc", "show", "--db", path); !strings.Contains(out, "not set up") {
		t.Errorf("oidc show after clear: %q", out)
	}

	d, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ev, err := d.EventsBefore(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range ev {
		if !strings.HasPrefix(e.Agent, "cli:") {
			t.Errorf("%s recorded as %q, not the cli: admin", e.Kind, e.Agent)
		}
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, " "); got != "oidc.clear oidc.set oidc.set" {
		t.Errorf("audit log: %s", got)
	}
}

// TestSetupSignInEndToEnd: the real binary. The admin runs `oidc set` for a real OpenID
// provider on 127.0.0.1, `serve` offers it, and `scimdesk setup` with neither email nor
// code prints the provider's URL and code, waits for the user to sign in there, and
// finishes with today's key setup: the user is ready.
func TestSetupSignInEndToEnd(t *testing.T) {
	if testing.Short() {
		testtool.SkipUnlessCI(t, "-short: this test builds and runs the binary")
	}
	dir := t.TempDir()
	e := startE2E(t, dir, "")
	idp := testidp.Start(t, "", []testidp.User{{ID: "sub-hana", Email: "hana@example.com", EmailVerified: true}}, "scimdesk-cli")
	e.mustRun("", "oidc", "set", "--issuer", idp.Issuer, "--client-id", "scimdesk-cli")
	hana := e.scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"hana@example.com",
		"emails":[{"value":"hana@example.com","primary":true}]}`)

	passFile := filepath.Join(dir, "pass")
	os.WriteFile(passFile, []byte("copper lantern orbit 47 meadow\n"), 0o600)
	cmd := exec.Command(builtBinary(t), "setup", "--server", e.base, "--passphrase-file", passFile,
		"--recovery-file", filepath.Join(dir, "recovery.txt"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var said strings.Builder
	sc := bufio.NewScanner(stderr)
	userCode := ""
	for userCode == "" && sc.Scan() {
		said.WriteString(sc.Text() + "\n")
		if _, after, ok := strings.Cut(sc.Text(), " and enter "); ok {
			userCode = after
		}
	}
	if userCode == "" || !strings.Contains(said.String(), "open "+idp.Issuer+"/device") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no sign-in URL and code on stderr:\n%s", said.String())
	}
	idp.Approve(t, userCode, "sub-hana")
	rest, _ := io.ReadAll(stderr)
	if err := cmd.Wait(); err != nil || !strings.Contains(string(rest), "hana@example.com is ready") {
		t.Fatalf("setup: %v\n%s%s", err, said.String(), rest)
	}
	if u, err := e.store.UserByID(context.Background(), hana["id"].(string)); err != nil || !u.HasKey {
		t.Fatalf("hana is not ready: %v", err)
	}
	assertEvent(t, e.store, "user.signin", "hana@example.com", db.OutcomeOK)
	assertEvent(t, e.store, "user.key_setup", "hana@example.com", db.OutcomeOK)
}
