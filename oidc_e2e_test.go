package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"scimdesk/db"
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
