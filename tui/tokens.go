package tui

import (
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"scimdesk/db"
)

// tokens is tab 2: the SCIM bearer tokens, a form for a new one, the new secret shown
// once, and revocation.
type tokens struct {
	d             *deps
	width, height int
	win           window[db.Token] // all tokens: there are a handful
	form          tokenForm
	formOpen      bool
	created       db.Token
	secret        string // the new token's secret, while its screen is shown; then gone
	confirm       confirm
	lastRequests  int64 // the heartbeat's request count when the list was last read
}

func newTokens(d *deps) *tokens {
	return &tokens{d: d, win: newWindow[db.Token](), form: newTokenForm(d), confirm: confirm{d: d}}
}

var tokenCols = []column{
	{Title: "STATUS", Min: 10},
	{Title: "DESCRIPTION", Min: 10, Flex: 3},
	{Title: "HINT", Min: 14},
	{Title: "CREATED", Min: 10},
	{Title: "EXPIRES", Min: 10},
	{Title: "LAST USED", Min: 10, Flex: 1},
}

func (t *tokens) Title() string              { return "Tokens" }
func (t *tokens) Init() tea.Cmd              { return loadTokens(t.d) }
func (t *tokens) Capturing() bool            { return t.formOpen || t.confirm.open }
func (t *tokens) tableHeight() int           { return max(2, t.height-4) } // less heading and footer
func (t *tokens) selected() (db.Token, bool) { return t.win.selected() }

func (t *tokens) SetSize(width, height int) {
	t.width, t.height = width, height
	t.win.setHeight(t.tableHeight() - 1)
}

func (t *tokens) KeyMap() help.KeyMap {
	km := t.d.keys
	switch {
	case t.confirm.open:
		return t.confirm.keys()
	case t.formOpen:
		return t.form.keys()
	case t.secret != "":
		cp, done := km.Copy, km.Back
		cp.SetHelp("c", "copy secret")
		done.SetHelp("esc", "done (hides it for good)")
		return keyHelp{short: []key.Binding{cp, done}}
	}
	if t.win.total == 0 {
		return keyHelp{short: []key.Binding{km.NewToken}}
	}
	return keyHelp{
		short: []key.Binding{km.NewToken, km.Revoke, km.Up, km.Down},
		full:  [][]key.Binding{{km.NewToken, km.Revoke}, t.d.keys.nav()},
	}
}

func (t *tokens) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tokensMsg:
		if msg.Err != nil {
			return reportErr("Reading tokens", msg.Err)
		}
		t.win.apply(0, msg.Tokens, len(msg.Tokens))
	case tokenCreatedMsg:
		if msg.Err != nil {
			return reportErr("Creating the token", msg.Err)
		}
		t.created, t.secret = msg.Token, msg.Secret
		t.win.moveTo(0) // the new token comes first
		return tea.Batch(loadTokens(t.d), report(levelOK, "Token created. Copy its secret now: it is shown only once."))
	case tokenRevokedMsg:
		if msg.Err != nil {
			return reportErr("Revoking the token", msg.Err)
		}
		return tea.Batch(loadTokens(t.d), report(levelOK, "Token "+msg.ID+" revoked: the next request that presents it gets 401."))
	case pollMsg:
		// Token use is written with the server's heartbeat: read the list again when the
		// server served requests or a token changed elsewhere (the CLI).
		changed := msg.HeartbeatOK && msg.Heartbeat.Requests != t.lastRequests
		for _, e := range msg.Events {
			changed = changed || strings.HasPrefix(e.Kind, "token.")
		}
		if msg.HeartbeatOK {
			t.lastRequests = msg.Heartbeat.Requests
		}
		// The first poll counts too: a token created or revoked between this tab's first
		// read and that poll is only in its history.
		if changed {
			return loadTokens(t.d)
		}
	case tabLeftMsg:
		t.hideSecret()
		t.formOpen = false
		t.confirm.open = false
	case tea.KeyPressMsg:
		return t.key(msg)
	case tea.PasteMsg:
		if t.formOpen {
			_, cmd := t.form.update(msg)
			return cmd
		}
	}
	return nil
}

func (t *tokens) key(k tea.KeyPressMsg) tea.Cmd {
	km := t.d.keys
	switch {
	case t.confirm.open:
		return t.confirm.update(k)
	case t.formOpen:
		done, cmd := t.form.update(k)
		if done {
			t.formOpen = false
		}
		return cmd
	case t.secret != "":
		switch {
		case key.Matches(k, km.Copy):
			return tea.Batch(tea.SetClipboard(t.secret), report(levelOK, "Copied the secret (OSC 52). If nothing arrived, select the line instead."))
		case key.Matches(k, km.Back), key.Matches(k, km.Open):
			t.hideSecret()
			return report(levelInfo, "Secret hidden for good. Lost it? Create a new token, revoke this one.")
		}
		return nil
	}
	switch {
	case key.Matches(k, km.NewToken):
		t.formOpen = true
		return t.form.start(t.width)
	case key.Matches(k, km.Revoke):
		tok, ok := t.selected()
		switch {
		case !ok:
			return report(levelInfo, "No token selected.")
		case !tok.Revoked.IsZero():
			return report(levelInfo, "Token "+tok.ID+" is already revoked.")
		}
		t.confirm.ask("Revoke token “"+clean(tok.Description)+"” ("+tok.Hint+")?",
			"The very next request that presents it gets 401. This cannot be undone: the identity provider needs a new token.",
			revokeToken(t.d, tok.ID))
		return nil
	}
	navigate(km, k, t.win.move, t.win.moveTo, t.win.total, t.win.height)
	return nil
}

// hideSecret forgets the secret: leaving its screen hides it for good.
func (t *tokens) hideSecret() {
	t.secret = ""
	t.created = db.Token{}
}

func (t *tokens) View() string {
	switch {
	case t.confirm.open:
		return t.confirm.view(t.width, t.height)
	case t.formOpen:
		return t.form.view(t.width)
	case t.secret != "":
		return t.secretView()
	}
	st := t.d.styles
	if !t.win.loaded {
		return st.Dim.Render("reading tokens…")
	}
	if t.win.total == 0 {
		return st.Heading.Render("No tokens yet.") + "\n\n" + hangJoin("Press "+st.Key.Render("n")+
			" to create one, then paste its secret into Okta (Authentication Mode: HTTP Header) or Entra ID (Secret Token).", t.width)
	}
	now := t.d.now()
	head := st.Heading.Render(plural(t.win.total, "token", "tokens")) + st.Dim.Render(" · newest first")
	body := table(st, tokenCols, t.width, t.tableHeight(), t.win.total, t.win.top, t.win.cursor, func(i int) ([]cell, bool) {
		tok, ok := t.win.at(i)
		if !ok {
			return nil, false
		}
		exp := "never"
		if !tok.Expires.IsZero() {
			exp = day(tok.Expires)
		}
		used := "never"
		if !tok.LastUsed.IsZero() {
			used = ago(now, tok.LastUsed) + " · " + tok.LastUsedAddr
		}
		return []cell{tokenStatus(st, tok.Status(now)), {Text: tok.Description}, {Text: tok.Hint, Style: st.Dim},
			{Text: day(tok.Created), Style: st.Dim}, {Text: exp}, {Text: used, Style: st.Dim}}, true
	})
	return head + "\n" + block(body, t.width, t.tableHeight()) + "\n" + t.footer()
}

// footer says more about the selected token: its last use in full, or why it needs care.
func (t *tokens) footer() string {
	st := t.d.styles
	tok, ok := t.selected()
	if !ok {
		return ""
	}
	now := t.d.now()
	var s string
	switch tok.Status(now) {
	case db.TokenExpiring:
		s = st.Warn.Render("▲ expires "+until(now, tok.Expires)) + ": create a new token, paste it into the identity provider, then revoke this one."
	case db.TokenExpired:
		s = st.Fail.Render("✗ expired "+day(tok.Expires)) + ": the identity provider gets 401; give it a new token."
	case db.TokenRevoked:
		s = st.Dim.Render("– revoked " + stamp(tok.Revoked))
	default:
		s = st.Dim.Render(strings.TrimRight(fit(tok.ID+" · "+clean(tok.Description), t.width, false), " "))
	}
	if !tok.LastUsed.IsZero() {
		s += "\n" + st.Dim.Render(strings.TrimRight(fit("last used "+stamp(tok.LastUsed)+" from "+tok.LastUsedAddr+" by "+clean(tok.LastUsedAgent), t.width, false), " "))
	}
	return s
}

// tokenStatus shows a token's state as a symbol and a word, coloured too.
func tokenStatus(st *styles, s string) cell {
	switch s {
	case db.TokenExpiring:
		return cell{Text: "▲ expiring", Style: st.Warn}
	case db.TokenExpired:
		return cell{Text: "✗ expired", Style: st.Fail}
	case db.TokenRevoked:
		return cell{Text: "– revoked", Style: st.Dim}
	}
	return cell{Text: "● active", Style: st.OK}
}

// secretView shows a new token's secret, once: large, alone on its line so it can be
// selected as plain text, with a key to copy it.
func (t *tokens) secretView() string {
	st := t.d.styles
	exp := "never expires"
	if !t.created.Expires.IsZero() {
		exp = "expires " + day(t.created.Expires)
	}
	rule := st.Rule.Render(strings.Repeat("━", min(t.width, lipgloss.Width(t.secret)+4)))
	// The description may be long (the CLI takes any): one line for it, with an ellipsis.
	tail := "” created (" + t.created.ID + ", " + exp + ")"
	desc := strings.TrimRight(fit(clean(t.created.Description), max(10, t.width-lipgloss.Width("✓ Token “"+tail)), false), " ")
	lines := []string{
		st.OK.Render("✓ Token “"+desc+"” created") + st.Dim.Render(" ("+t.created.ID+", "+exp+")"),
		"",
		st.Heading.Render("Copy the secret now. It is shown only this once: scimdesk keeps only its hash."),
		"",
		rule,
		"",
		"  " + st.Secret.Render(t.secret),
		"",
		rule,
		"",
		"Press " + st.Key.Render("c") + " to copy it to your clipboard, or select the line above.",
		"Paste it into Okta (Provisioning › Integration › Authorization) or Entra ID (Secret Token).",
		"",
		st.Dim.Render("esc or enter when done: the secret disappears for good, and so does it if you leave this tab."),
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, hang("", l, t.width)...)
	}
	return strings.Join(out, "\n")
}
