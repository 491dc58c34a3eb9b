package tui

import (
	"context"
	"testing"

	"scimdesk/db"
)

// TestProvisioningShowsSignIn: tab 1 says how pending users sign in, and follows the
// admin's `oidc set` and `oidc clear` made by another process, on a real database.
func TestProvisioningShowsSignIn(t *testing.T) {
	d := testDB(t)
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 100, 40)
	dr.waitText("Sign-in", "setup codes only (scimdesk oidc set --issuer URL --client-id ID)")
	if err := d.SetOIDCConfig(context.Background(), db.OIDCConfig{Issuer: "https://example.okta.com", ClientID: "0oa1b2c3"}, "cli:test"); err != nil {
		t.Fatal(err)
	}
	dr.waitText("Sign-in", "https://example.okta.com, client id 0oa1b2c3")
	if err := d.ClearOIDCConfig(context.Background(), "cli:test"); err != nil {
		t.Fatal(err)
	}
	dr.waitText("setup codes only")
	dr.key("q")
	dr.waitQuit()
}
