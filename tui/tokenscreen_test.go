package tui

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
)

// TestFlowNewTokenScreenShowsSCIMURL: the new-token screen shows the SCIM URL beside the
// secret, each copied by its own key, so the admin pastes both into Okta without leaving
// the screen (which would hide the secret for good). It fits 80x24, a rotation's extra
// line included.
func TestFlowNewTokenScreenShowsSCIMURL(t *testing.T) {
	d := testDB(t)
	srv := startServer(t, d)
	s := startTerm(t, newApp(testDeps(t, d, Options{Server: srv})), 80, 24)
	s.waitScreen("1 Provisioning", srv.SCIMURL())
	s.keys("2", "n")
	s.waitScreen("New SCIM token")
	s.tm.Type("okta")
	s.keys("enter")
	scr := s.waitScreen("Copy the secret now", "Secret   (c copies it)", "SCIM URL (u copies it)", srv.SCIMURL(),
		"esc or enter when done", "c copy secret • u copy SCIM URL")
	secret := secretRe.FindString(scr)
	if secret == "" {
		t.Fatalf("no secret on the screen:\n%s", scr)
	}
	lines := strings.Split(scr, "\n")
	at := func(text string) int {
		for i, l := range lines {
			if strings.Contains(l, text) {
				return i
			}
		}
		return -1
	}
	if s, u := at(secret), at(srv.SCIMURL()); s < 0 || u < 0 || u-s > 3 {
		t.Errorf("the SCIM URL is not beside the secret (lines %d and %d):\n%s", s, u, scr)
	}

	osc52 := func(v string) string { return "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(v)) }
	s.keys("u")
	scr = s.waitScreen("Sent the SCIM URL to your terminal's clipboard")
	if !s.sawRaw(osc52(srv.SCIMURL())) {
		t.Error("u did not send the SCIM URL with OSC 52")
	}
	if !strings.Contains(scr, secret) {
		t.Fatal("copying the URL hid the secret")
	}
	s.keys("c")
	s.waitScreen("Sent the secret to your terminal's clipboard")
	if !s.sawRaw(osc52(secret)) {
		t.Error("c did not send the secret with OSC 52")
	}
	s.keys("esc")
	s.waitScreen("● active", "okta")

	// A rotation adds a line about the old token: everything still fits.
	s.keys("r")
	s.waitScreen("Rotate token “okta”")
	s.keys("enter")
	scr = s.waitScreen("Replaces ", "SCIM URL (u copies it)", srv.SCIMURL(), "esc or enter when done")
	t.Logf("the rotated token's screen at 80x24:\n%s", scr)
	if secretRe.FindString(scr) == "" {
		t.Fatalf("no secret on the rotation's screen:\n%s", scr)
	}
	toks, _ := d.Tokens(context.Background())
	if len(toks) != 2 {
		t.Fatalf("%d tokens after a rotation", len(toks))
	}
}
