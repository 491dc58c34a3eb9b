package tui

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"scimdesk/db"
)

// TestSetupFormFixesTheServerInPlace: `scimdesk setup` with a server that cannot be
// reached says so, marks the Server line (with ▸, which shows without colour too) and
// says to correct it there; the user does, presses enter, and goes on with the same code,
// without running the command again.
func TestSetupFormFixesTheServerInPlace(t *testing.T) {
	w := newFlowWorld(t)
	_, code := w.pending("carol")
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()

	o := w.options(db.PurposeSetup, "carol@example.com")
	o.Server, o.Code = deadURL, code
	tm := teatest.NewTestModel(t, newSetupFlow(context.Background(), o), teatest.WithInitialTermSize(80, 24),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ASCII)))
	t.Cleanup(func() { tm.Quit() })
	s := newFlowScreenOf(t, tm)
	s.wait("Sign in", "Server  › "+deadURL)
	s.keys("enter")
	scr := s.wait("Cannot reach the server at "+deadURL, "Correct the Server line above", "▸ Server  › "+deadURL)
	if strings.Contains(scr, "▸ Email") || strings.Contains(scr, "▸ Code") {
		t.Errorf("another line is marked as the one to fix:\n%s", scr)
	}
	s.keys("ctrl+u")
	s.tm.Type(w.base)
	s.keys("enter")
	s.wait("Choose a passphrase for carol@example.com")
}
