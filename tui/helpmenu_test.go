package tui

import (
	"context"
	"strings"
	"testing"
)

// TestFlowHelpRunsTheKeyItLists: ? lists the keys that work now, one a line; enter on a
// line runs that key (as lazygit's menus do), and so does pressing the key there; esc
// closes the list and does nothing.
func TestFlowHelpRunsTheKeyItLists(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	srv := startServer(t, d)
	if _, _, err := d.CreateToken(ctx, "okta", 0, "test"); err != nil {
		t.Fatal(err)
	}
	s := startTerm(t, newApp(testDeps(t, d, Options{Server: srv})), 80, 24)
	s.waitScreen("SCIM ○ off", "○ disabled")

	s.keys("?")
	scr := s.waitScreen("All keys — Provisioning", "› e", "enable SCIM", "copy SCIM URL", "quit (asks first)", "enter run it")
	s.keys("esc")
	scr = s.waitScreen("○ disabled", "e enable SCIM • c copy SCIM URL")
	if strings.Contains(scr, "All keys") {
		t.Fatalf("esc did not close the list:\n%s", scr)
	}
	if on, _ := d.SCIMEnabled(ctx); on {
		t.Fatal("closing the list switched SCIM on")
	}

	// enter runs the selected line: e, enable SCIM.
	s.keys("?")
	s.waitScreen("› e")
	s.keys("enter")
	s.waitScreen("● enabled", "SCIM provisioning is enabled")
	if on, _ := d.SCIMEnabled(ctx); !on {
		t.Fatal("enter on “e enable SCIM” did not enable SCIM")
	}

	// Down to the third line of tab 2's list, x revoke: enter asks, as x does.
	s.keys("2")
	s.waitScreen("1 token", "okta")
	s.keys("?")
	s.waitScreen("All keys — Tokens", "› n")
	s.keys("down", "down")
	scr = s.waitScreen("› x")
	if !strings.Contains(scr, "revoke") {
		t.Fatalf("the third line is not revoke:\n%s", scr)
	}
	s.keys("enter")
	s.waitScreen("Revoke token “okta”", "y yes")
	s.keys("n")
	s.waitScreen("Cancelled: nothing was changed.")

	// A listed key pressed in the list does what it says: n opens the new-token form.
	s.keys("?")
	s.waitScreen("All keys — Tokens")
	s.keys("n")
	s.waitScreen("New SCIM token", "Description")
}
