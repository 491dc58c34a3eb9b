package tui

import (
	"strings"
	"time"

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
	// after is the newest audit event when the code was shown: the user's finishing is an
	// event after it.
	after int64
	// finished is when the user finished setup (or recovery) with the code, seen in the
	// audit log while the screen was open; zero until then. The code is spent then.
	finished time.Time
}

// shown reports whether a code is on screen.
func (s *setupCode) shown() bool { return s.secret != "" }

// show puts a new code on screen.
func (s *setupCode) show(msg setupCodeMsg, scimURL, caveat string) {
	s.code, s.secret = msg.Code, msg.Secret
	s.server = strings.TrimSuffix(scimURL, "/scim/v2")
	s.caveat = caveat
}

// finish records that the user finished with the code (the audit event e): the screen
// says so instead of showing a spent code.
func (s *setupCode) finish(e db.Event) tea.Cmd {
	s.finished = e.At
	if s.finished.IsZero() {
		s.finished = s.d.now()
	}
	return report(levelOK, s.doneText())
}

// doneText says that the user is done.
func (s *setupCode) doneText() string {
	who := clean(s.code.UserName)
	if s.code.Purpose == db.PurposeRecover {
		return who + " finished recovery: ready again with a new passphrase."
	}
	return who + " finished setup: ready now."
}

// command is what the user runs: setup, or recover for a recovery code.
func (s *setupCode) command() string {
	if s.code.Purpose == db.PurposeRecover {
		return "scimdesk recover"
	}
	return "scimdesk setup"
}

// hide forgets the code.
func (s *setupCode) hide() { *s = setupCode{d: s.d} }

// handover is the text to send the user: the command and the code.
func (s *setupCode) handover() string {
	server := s.server
	if server == "" {
		server = "URL"
	}
	label := "Setup code: "
	if s.code.Purpose == db.PurposeRecover {
		label = "Recovery code: "
	}
	get := ""
	if s.d.downloadURL != "" && s.code.Purpose == db.PurposeSetup {
		get = "Get scimdesk: " + s.d.downloadURL + "\n"
	}
	return get + "Run: " + s.command() + " --server " + server + "\nEmail: " + s.code.UserName + "\n" + label + s.secret
}

// update copies the hand-over text or closes the screen.
func (s *setupCode) update(k tea.KeyPressMsg) tea.Cmd {
	km := s.d.keys
	switch {
	case key.Matches(k, km.Copy) && s.finished.IsZero():
		return copyText(s.d, "the "+codeWord(s.code.Purpose), s.handover())
	case key.Matches(k, km.Back), key.Matches(k, km.Open):
		done := !s.finished.IsZero()
		word := codeWord(s.code.Purpose)
		s.hide()
		if done {
			return nil
		}
		return report(levelInfo, strings.ToUpper(word[:1])+word[1:]+" hidden for good. Lost it? Press i again: a new code voids the old.")
	}
	return nil
}

// keys is the screen's help.
func (s *setupCode) keys() keyHelp {
	cp, done := s.d.keys.Copy, s.d.keys.Back
	if !s.finished.IsZero() {
		done.SetHelp("esc", "back to the list")
		return keyHelp{short: []key.Binding{done}}
	}
	cp.SetHelp("c", "copy command and code")
	done.SetHelp("esc", "done (hides it for good)")
	return keyHelp{short: []key.Binding{cp, done}}
}

// view shows the code large, alone on its line, and the command beside it; once the user
// has finished with it, that they have.
func (s *setupCode) view(width int) string {
	st := s.d.styles
	word := codeWord(s.code.Purpose)
	if !s.finished.IsZero() {
		lines := []string{
			strings.Join(hangClip("", st.OK.Render("✓ "+s.doneText()), width, 2), "\n"),
			st.Dim.Render("  at " + stamp(s.finished) + ", with the " + word + " shown here, which is now spent"),
			"",
			st.Dim.Render("esc or enter: back to the list."),
		}
		out := make([]string, 0, len(lines))
		for _, l := range lines {
			out = append(out, hang("", l, width)...)
		}
		return strings.Join(out, "\n")
	}
	server := s.server
	if server == "" {
		server = st.Warn.Render("URL") + st.Dim.Render(" (no server is running: use the server's public URL)")
	}
	rule := st.Rule.Render(strings.Repeat("━", min(width, 20)))
	// The user name comes from the identity provider: two lines at most (the copied text
	// has it whole).
	head := hangClip("", st.OK.Render("✓ "+strings.ToUpper(word[:1])+word[1:]+" for "+clean(s.code.UserName)), width, 2)
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
		"  " + s.command() + " --server " + server,
	}
	if s.d.downloadURL != "" && s.code.Purpose == db.PurposeSetup {
		lines = append(lines, st.Dim.Render("  no scimdesk yet? ")+clean(s.d.downloadURL))
	}
	if s.caveat != "" {
		lines = append(lines, st.Warn.Render("▲ The user's machine may not reach this URL: "+s.caveat))
	}
	then := "They type their email and the code, then choose a passphrase; their key is made on their side. This screen says when they are done; they turn from pending to ready."
	if s.code.Purpose == db.PurposeRecover {
		then = "They type their email, the code and their recovery key, then choose a new passphrase. This screen says when they are done."
	}
	lines = append(lines,
		"",
		then,
		"",
		st.Dim.Render("esc or enter when done: the code disappears for good, and so it does if you leave this tab."),
	)
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, hang("", l, width)...)
	}
	return strings.Join(out, "\n")
}
