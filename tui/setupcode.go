package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// setupCode is the screen that shows a pending user's new setup code, once, with the
// command to hand over. Like a token's secret, it is gone for good when the screen closes.
type setupCode struct {
	d      *deps
	code   db.SetupCode
	secret string
	server string // the base URL for `scimdesk setup --server`
	caveat string // why that URL may not work from the user's machine ("" when it should)
}

// shown reports whether a code is on screen.
func (s *setupCode) shown() bool { return s.secret != "" }

// show puts a new code on screen.
func (s *setupCode) show(msg setupCodeMsg, scimURL, caveat string) {
	s.code, s.secret = msg.Code, msg.Secret
	s.server = strings.TrimSuffix(scimURL, "/scim/v2")
	s.caveat = caveat
}

// hide forgets the code.
func (s *setupCode) hide() { *s = setupCode{d: s.d} }

// handover is the text to send the user: the command and the code.
func (s *setupCode) handover() string {
	server := s.server
	if server == "" {
		server = "URL"
	}
	return "Run: scimdesk setup --server " + server + "\nEmail: " + s.code.UserName + "\nSetup code: " + s.secret
}

// update copies the hand-over text or closes the screen.
func (s *setupCode) update(k tea.KeyPressMsg) tea.Cmd {
	km := s.d.keys
	switch {
	case key.Matches(k, km.Copy):
		return copyText(s.d, "the setup code", s.handover())
	case key.Matches(k, km.Back), key.Matches(k, km.Open):
		s.hide()
		return report(levelInfo, "Setup code hidden for good. Lost it? Press i again: a new code voids the old.")
	}
	return nil
}

// keys is the screen's help.
func (s *setupCode) keys() keyHelp {
	cp, done := s.d.keys.Copy, s.d.keys.Back
	cp.SetHelp("c", "copy command and code")
	done.SetHelp("esc", "done (hides it for good)")
	return keyHelp{short: []key.Binding{cp, done}}
}

// view shows the code large, alone on its line, and the command beside it.
func (s *setupCode) view(width int) string {
	st := s.d.styles
	server := s.server
	if server == "" {
		server = st.Warn.Render("URL") + st.Dim.Render(" (no server is running: use the server's public URL)")
	}
	rule := st.Rule.Render(strings.Repeat("━", min(width, 20)))
	// The user name comes from the identity provider: two lines at most (the copied text
	// has it whole).
	head := hangClip("", st.OK.Render("✓ Setup code for "+clean(s.code.UserName)), width, 2)
	lines := []string{
		strings.Join(head, "\n"),
		st.Dim.Render("  valid until " + s.code.Expires.Local().Format("2006-01-02 15:04") + ", single use; a new code voids this one"),
		"",
		st.Heading.Render("Give the user this code and command. The code is shown only this once."),
		"",
		rule,
		"  " + st.Secret.Render(s.secret),
		rule,
		"",
		"  scimdesk setup --server " + server,
	}
	if s.caveat != "" {
		lines = append(lines, st.Warn.Render("▲ The user's machine may not reach this URL: "+s.caveat))
	}
	lines = append(lines,
		"",
		"They type their email and the code, then choose a passphrase; their key is made on their side. They turn from pending to ready here.",
		"",
		st.Dim.Render("esc or enter when done: the code disappears for good, and so it does if you leave this tab."),
	)
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, hang("", l, width)...)
	}
	return strings.Join(out, "\n")
}
