package tui

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"scimdesk/db"
	"scimdesk/setupapi"
)

// codeOnScreen is a setup or recovery code as the console shows it.
var codeOnScreen = regexp.MustCompile(`\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b`)

// TestFlowUserCodesFromTheConsole follows a user from pending to ready and back through a
// recovery, on the console's screen over a real server: the Users tab tells whether the
// selected user holds a code, with its attempts left and expiry (a wrong email typed with
// the code costs one, and the tab shows it); the setup code's screen says when the user
// finished setup with the real setup flow; i on the now ready user offers a recovery code,
// with a question first, and the code it shows works for recovery.
func TestFlowUserCodesFromTheConsole(t *testing.T) {
	w := newFlowWorld(t)
	ctx := context.Background()
	insertUser(t, w.d, "id-alice", "alice@example.com", "Alice Liddell")
	dp := testDeps(t, w.d, Options{Server: w.srv})
	s := startTerm(t, newApp(dp), 100, 30)
	s.keys("3")
	s.waitScreen("1 user", "alice@example.com", "○ pending", "row 1 of 1 · no setup code yet · i issues one")
	s.keys("enter")
	s.waitScreen("Code          none issued")
	s.keys("esc")

	s.keys("i")
	s.waitScreen("Issue a setup code for alice@example.com?")
	s.keys("y")
	scr := s.waitScreen("Setup code for alice@example.com", "scimdesk setup --server "+w.base, "This")
	code := codeOnScreen.FindString(scr)
	if code == "" {
		t.Fatalf("no code on the screen:\n%s", scr)
	}
	s.keys("esc")
	s.waitScreen("row 1 of 1 · setup code live: 5 tries left, expires in 24h")

	// Someone types the code with a wrong email: the code survives one try fewer.
	client, err := setupapi.NewClient(w.base, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Begin(ctx, "mallory@example.com", code, db.PurposeSetup); err == nil {
		t.Fatal("a wrong email passed")
	}
	s.waitScreen("row 1 of 1 · setup code live: 4 tries left, expires in 24h")
	s.keys("enter")
	s.waitScreen("Setup code    live: issued ", "4 of 5 attempts left, expires ")
	s.keys("esc")

	// A new code, left on screen while Alice runs `scimdesk setup` with it.
	s.keys("i", "y")
	scr = s.waitScreen("Setup code for alice@example.com")
	code = codeOnScreen.FindString(scr)
	f := newFlowDriver(t, w.options(db.PurposeSetup, "alice@example.com"))
	f.f.signIn[sfFieldCode].SetValue(code)
	f.keys("enter")
	f.until(sfPassphrase)
	f.passphrase(flowPass)
	f.until(sfShowKey)
	rk := f.f.rkText
	f.keys("enter")
	groups := strings.Split(rk, "-")
	f.typeText(groups[f.f.groups[0]] + groups[f.f.groups[1]])
	f.keys("enter")
	f.until(sfDone)
	scr = s.waitScreen("✓ alice@example.com finished setup: ready now.", "which is now spent")
	if strings.Contains(scr, code) {
		t.Errorf("the spent code is still on screen:\n%s", scr)
	}
	s.keys("esc")
	s.waitScreen("● ready", "row 1 of 1 · i issues a recovery code", "i recovery code")

	// A recovery code: asked first, since it lets its holder replace the passphrase.
	s.keys("i")
	s.waitScreen("Issue a recovery code for alice@example.com?", "Only if alice@example.com asked for it")
	s.keys("n")
	s.waitScreen("Cancelled: nothing was changed.")
	if c, err := w.d.SetupCodeOf(ctx, "id-alice"); err != nil || c.Purpose != db.PurposeSetup {
		t.Fatalf("answering no issued a code: %+v %v", c, err)
	}
	s.keys("i", "y")
	scr = s.waitScreen("Recovery code for alice@example.com", "scimdesk recover --server "+w.base)
	rc := codeOnScreen.FindString(scr)
	if _, err := w.d.CheckSetupCode(ctx, "alice@example.com", rc, db.PurposeRecover, dp.now()); err != nil {
		t.Fatalf("the recovery code on screen does not check: %v", err)
	}
	ev, err := w.d.EventsBefore(ctx, 0, 1)
	if err != nil || len(ev) != 1 || ev[0].Kind != "user.recovery_code" || ev[0].Agent != "admin:test" {
		t.Fatalf("the audit log does not record the admin's recovery code: %+v %v", ev, err)
	}
	s.keys("esc")
	s.waitScreen("row 1 of 1 · recovery code live: 5 tries left")
}

// TestFlowEmptyUsersFollowSCIM: the empty Users tab says what SCIM's state means: off, how
// to switch it on; on, that the identity provider's push shows here.
func TestFlowEmptyUsersFollowSCIM(t *testing.T) {
	d := testDB(t)
	srv := startServer(t, d)
	s := startTerm(t, newApp(testDeps(t, d, Options{Server: srv})), 100, 30)
	s.keys("3")
	s.waitScreen("No users yet: SCIM is off. Press 1, then e, to switch it on.")
	s.keys("1", "e")
	s.waitScreen("● enabled")
	s.keys("3")
	scr := s.waitScreen("No users yet: SCIM is on; the users Okta or Entra ID push show here.")
	if strings.Contains(scr, "SCIM is off") {
		t.Errorf("the tab still says SCIM is off:\n%s", scr)
	}
}
