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
// once, rotation and revocation. Tokens that stopped working more than db.HiddenAfter ago
// are hidden unless the admin asks for all.
type tokens struct {
	d             *deps
	width, height int
	all           []db.Token       // every token, as read
	win           window[db.Token] // the tokens shown: there are a handful
	showAll       bool             // hidden tokens too
	form          tokenForm
	formOpen      bool
	rotate        rotateForm
	rotateOpen    bool
	created       db.Token
	replaced      db.Token // the token the new one replaces, when it came from a rotation
	secret        string   // the new token's secret, while its screen is shown; then gone
	confirm       confirm
	lastRequests  int64          // the servers' request count when the list was last read
	selectID      string         // the token to select when the list is next read (a new one)
	beats         []db.Heartbeat // for the SCIM URL shown beside a new secret
}

func newTokens(d *deps) *tokens {
	return &tokens{d: d, win: newWindow[db.Token](), form: newTokenForm(d), rotate: rotateForm{d: d}, confirm: confirm{d: d}}
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
func (t *tokens) Capturing() bool            { return t.formOpen || t.rotateOpen || t.confirm.open }
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
	case t.rotateOpen:
		return t.rotate.keys()
	case t.secret != "":
		cp, done := km.Copy, km.Back
		cp.SetHelp("c", "copy secret")
		done.SetHelp("esc", "done (hides it for good)")
		return keyHelp{short: []key.Binding{cp, km.CopyURL, done}}
	}
	all := km.ShowAll
	if t.showAll {
		all.SetHelp("a", "hide old")
	}
	if t.win.total == 0 {
		return keyHelp{short: []key.Binding{km.NewToken, all}}
	}
	return keyHelp{
		short: []key.Binding{km.NewToken, km.Rotate, km.Revoke, all, km.Up, km.Down},
		full:  [][]key.Binding{{km.NewToken, km.Rotate, km.Revoke, all}, t.d.keys.nav()},
	}
}

func (t *tokens) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tokensMsg:
		if msg.Err != nil {
			return reportErr("Reading tokens", msg.Err)
		}
		t.all = msg.Tokens
		t.applyShown()
	case tokenCreatedMsg:
		if msg.Err != nil {
			return reportErr("Creating the token", msg.Err)
		}
		t.created, t.replaced, t.secret = msg.Token, db.Token{}, msg.Secret
		t.selectID = msg.Token.ID
		return tea.Batch(loadTokens(t.d), report(levelOK, "Token created. Copy its secret now: it is shown only once."))
	case tokenRotatedMsg:
		if msg.Err != nil {
			return reportErr("Rotating the token", msg.Err)
		}
		t.created, t.replaced, t.secret = msg.Rotation.New, msg.Rotation.Old, msg.Secret
		t.selectID = msg.Rotation.New.ID
		return tea.Batch(loadTokens(t.d), report(levelOK, "Token rotated. Copy the new secret now: it is shown only once."))
	case tokenRevokedMsg:
		if msg.Err != nil {
			return reportErr("Revoking the token", msg.Err)
		}
		return tea.Batch(loadTokens(t.d), report(levelOK, "Token "+msg.ID+" revoked: the next request that presents it gets 401."))
	case pollMsg:
		// Token use is written with each server's heartbeat: read the list again when the
		// servers served requests (or one stopped, having written its last uses) or a
		// token changed elsewhere (the CLI).
		served := traffic(msg.Heartbeats).requests
		changed := msg.Err == nil && served != t.lastRequests
		for _, e := range msg.Events {
			changed = changed || strings.HasPrefix(e.Kind, "token.")
		}
		if msg.Err == nil {
			t.lastRequests, t.beats = served, msg.Heartbeats
		}
		// The first poll counts too: a token created or revoked between this tab's first
		// read and that poll is only in its history.
		if changed {
			return loadTokens(t.d)
		}
	case tabShownMsg:
		t.win.watched = true
	case tabLeftMsg:
		t.win.watched = false
		t.hideSecret()
		t.formOpen, t.rotateOpen = false, false
		t.confirm.open = false
	case tea.KeyPressMsg:
		t.win.watched = true // keys reach a tab only while it is shown
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
	case t.rotateOpen:
		done, cmd := t.rotate.update(k)
		if done {
			t.rotateOpen = false
		}
		return cmd
	case t.secret != "":
		switch {
		case key.Matches(k, km.Copy):
			return copyText(t.d, "the secret", t.secret)
		case key.Matches(k, km.CopyURL):
			url := scimURL(t.d, t.beats)
			if url == "" {
				return report(levelErr, "No SCIM URL to copy: no server is running for this database.")
			}
			return copyText(t.d, "the SCIM URL", url)
		case key.Matches(k, km.Back), key.Matches(k, km.Open):
			t.hideSecret()
			return report(levelInfo, "Secret hidden for good. Lost it? Rotate the token with r for a new one.")
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
	case key.Matches(k, km.Rotate):
		tok, ok := t.selected()
		if !ok {
			return report(levelInfo, "No token selected.")
		}
		switch tok.Status(t.d.now()) {
		case db.TokenRevoked:
			return report(levelInfo, "Token "+tok.ID+" is revoked: it cannot be rotated. Create a new token with n.")
		case db.TokenExpired:
			return report(levelInfo, "Token "+tok.ID+" has expired: it cannot be rotated. Create a new token with n.")
		case db.TokenRotated:
			return report(levelInfo, "Token "+tok.ID+" was already rotated: rotate its replacement, "+tok.ReplacedBy+", instead.")
		}
		t.rotate.start(tok)
		t.rotateOpen = true
		return nil
	case key.Matches(k, km.ShowAll):
		t.showAll = !t.showAll
		t.applyShown()
		if t.showAll {
			return report(levelInfo, "Showing every token, those revoked or expired more than 7 days ago too.")
		}
		return report(levelInfo, "Hiding tokens revoked or expired more than 7 days ago.")
	}
	navigate(km, k, t.win.move, t.win.moveTo, t.win.total, t.win.height)
	return nil
}

// hideSecret forgets the secret: leaving its screen hides it for good.
func (t *tokens) hideSecret() {
	t.secret = ""
	t.created, t.replaced = db.Token{}, db.Token{}
}

// applyShown puts the tokens to show in the list: all of them, or those not hidden. The
// cursor stays on the token it was on (by id), wherever the list put it, or goes to the
// token just created.
func (t *tokens) applyShown() {
	want := t.win.keptKey(tokenID)
	shown := t.all
	if !t.showAll {
		shown = db.Visible(t.all, t.d.now())
	}
	t.win.apply(0, shown, len(shown))
	if t.selectID != "" && t.win.follow(tokenID, t.selectID) {
		t.selectID = "" // a list read before the token was made does not hold it yet
		return
	}
	t.win.follow(tokenID, want)
}

func tokenID(tok db.Token) string { return tok.ID }

// hiddenNote says how many tokens the list leaves out, and how to see them.
func (t *tokens) hiddenNote() string {
	st := t.d.styles
	if t.showAll {
		return st.Dim.Render(" · all, old ones too (") + st.Key.Render("a") + st.Dim.Render(" hides them)")
	}
	if n := len(t.all) - t.win.total; n > 0 {
		return st.Dim.Render(" · "+plural(n, "old token", "old tokens")+" hidden (") + st.Key.Render("a") + st.Dim.Render(" shows all)")
	}
	return ""
}

func (t *tokens) View() string {
	switch {
	case t.confirm.open:
		return t.confirm.view(t.width, t.height)
	case t.formOpen:
		return t.form.view(t.width)
	case t.rotateOpen:
		return t.rotate.view(t.width)
	case t.secret != "":
		return t.secretView()
	}
	st := t.d.styles
	if !t.win.loaded {
		return st.Dim.Render("reading tokens…")
	}
	if t.win.total == 0 && len(t.all) > 0 {
		return st.Heading.Render("No current tokens.") + t.hiddenNote() + "\n\n" + hangJoin("Press "+st.Key.Render("n")+" to create one.", t.width)
	}
	if t.win.total == 0 {
		return st.Heading.Render("No tokens yet.") + "\n\n" + hangJoin("Press "+st.Key.Render("n")+
			" to create one, then paste its secret into Okta (Authentication Mode: HTTP Header) or Entra ID (Secret Token).", t.width)
	}
	now := t.d.now()
	head := st.Heading.Render(plural(t.win.total, "token", "tokens")) + st.Dim.Render(" · newest first") + t.hiddenNote()
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
		s = st.Warn.Render("▲ expires "+until(now, tok.Expires)) + ": press r to rotate it (a new secret; this one works on for a while)"
	case db.TokenRotated:
		s = st.Warn.Render("↻ rotated → "+tok.ReplacedBy) + ": keeps working until " + stamp(tok.Expires) + " (" + until(now, tok.Expires) + "), then stops."
	case db.TokenExpired:
		if tok.ReplacedBy != "" {
			s = st.Dim.Render("✗ rotated → " + tok.ReplacedBy + ", stopped " + stamp(tok.Expires))
			break
		}
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
	case db.TokenRotated:
		return cell{Text: "↻ rotated", Style: st.Warn}
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
	lines := []string{st.OK.Render("✓ Token “"+desc+"” created") + st.Dim.Render(" ("+t.created.ID+", "+exp+")")}
	if t.replaced.ID != "" {
		old := "Replaces " + t.replaced.ID + ", which stopped working at once."
		if t.replaced.Expires.After(t.d.now()) {
			old = "Replaces " + t.replaced.ID + ", which keeps working until " + stamp(t.replaced.Expires) + ", then stops."
		}
		lines = append(lines, st.Warn.Render(old))
	}
	// The SCIM URL goes beside the secret: the identity provider needs both, and going to
	// tab 1 for the URL would hide the secret for good.
	url := scimURL(t.d, t.beats)
	urlLine := st.Accent.Render(url)
	if url == "" {
		urlLine = st.Dim.Render("unknown while no server runs for this database: the server's public URL + /scim/v2")
	}
	lines = append(lines,
		"",
		st.Heading.Render("Copy the secret now. It is shown only this once: scimdesk keeps only its hash."),
		"",
		rule,
		st.Label.Render("Secret")+st.Dim.Render("   (")+st.Key.Render("c")+st.Dim.Render(" copies it)"),
		"  "+st.Secret.Render(t.secret),
		"",
		st.Label.Render("SCIM URL")+st.Dim.Render(" (")+st.Key.Render("u")+st.Dim.Render(" copies it)"),
		"  "+urlLine,
		rule,
		"",
		"Paste both into Okta (Provisioning › Integration: SCIM connector base URL and Authorization) or Entra ID (Tenant URL and Secret Token); or select each line.",
		"",
		st.Dim.Render("esc or enter when done: the secret disappears for good, and so does it if you leave this tab."),
	)
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, hang("", l, t.width)...)
	}
	return strings.Join(out, "\n")
}
