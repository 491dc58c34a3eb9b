package tui

import (
	"context"
	"io"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/charmbracelet/x/vt"

	"scimdesk/db"
)

// TestSetupFormPlaceholdersWithoutColour: in a terminal without colour (NO_COLOR), the
// setup form's hints cannot be told from typed values by their dimness, so they are put in
// brackets as examples; typed values are not. With colour they stay as they are (dim).
func TestSetupFormPlaceholdersWithoutColour(t *testing.T) {
	w := newFlowWorld(t)
	for _, c := range []struct {
		profile colorprofile.Profile
		email   string // what the empty email field shows
	}{
		{colorprofile.ASCII, "Email   › [e.g. you@example.com]"},
		{colorprofile.ANSI256, "Email   › you@example.com"},
	} {
		t.Run(c.profile.String(), func(t *testing.T) {
			o := w.options(db.PurposeSetup, "")
			f := newSetupFlow(context.Background(), o)
			tm := teatest.NewTestModel(t, f, teatest.WithInitialTermSize(80, 24),
				teatest.WithProgramOptions(tea.WithColorProfile(c.profile)))
			t.Cleanup(func() { tm.Quit() })
			s := newFlowScreenOf(t, tm)
			scr := s.wait("Sign in", c.email, "Code    › ")
			if c.profile == colorprofile.ASCII && !strings.Contains(scr, "Code    › [e.g. "+db.SetupCodeExample+"]") {
				t.Errorf("the code's hint is not marked:\n%s", scr)
			}
			if c.profile != colorprofile.ASCII && strings.Contains(scr, "[e.g.") {
				t.Errorf("hints are bracketed although the terminal has colour:\n%s", scr)
			}
			// A typed value is shown as typed.
			s.tm.Type("bob@example.com")
			s.wait("Email   › bob@example.com")
			if strings.Contains(s.screen(), "[bob@example.com") {
				t.Error("a typed value is bracketed")
			}
		})
	}
}

// TestConsoleFormPlaceholdersWithoutColour: the same for the console's new-token form and
// the Users filter.
func TestConsoleFormPlaceholdersWithoutColour(t *testing.T) {
	d := testDB(t)
	s := startTerm(t, newApp(testDeps(t, d, Options{})), 80, 24, tea.WithColorProfile(colorprofile.ASCII))
	s.waitScreen("1 Provisioning")
	s.keys("2", "n")
	s.waitScreen("New SCIM token", "[what it is for, e.g. okta production]")
	s.keys("esc", "3", "/")
	s.waitScreen("/ [e.g. email, user name or name]")
}

// newFlowScreenOf puts a running setup flow on an 80x24 emulated screen.
func newFlowScreenOf(t *testing.T, tm *teatest.TestModel) *flowScreen {
	emu := vt.NewEmulator(80, 24)
	go io.Copy(io.Discard, emu) // its answers to the program's queries, unread, block it
	return &flowScreen{t: t, tm: tm, emu: emu}
}
