package tui

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"scimdesk/db"
)

// users is tab 3: the provisioned users, paged from the database, with counts per status,
// a "/" filter, a status filter and a detail page.
type users struct {
	d             *deps
	width, height int
	list          *userList
	filter        filterBox
	status        string // "", pending, ready or deactivated
	detail        detail
	detailID      string
	confirm       confirm
	code          setupCode
	beats         []db.Heartbeat // for the server URL in the setup command
	scimOn        bool           // for what the empty list says
	scimKnown     bool
	codes         map[string]codeStateMsg // the code each user holds, by user id, as last read
	codeGen       int                     // bumped whenever codes is forgotten (forgetCodes)
	codeAsked     string                  // the user whose code is being read
	lastEventID   int64                   // the newest audit event seen
}

// statusCycle is the order the s key steps through.
var statusCycle = []string{"", db.StatusPending, db.StatusReady, db.StatusDeactivated}

func newUsers(d *deps) *users {
	return &users{d: d, list: newUserList(d, "users", true), filter: newFilterBox(d, "users", "email, user name or name"),
		detail: newDetail(d), confirm: confirm{d: d}, code: setupCode{d: d}, codes: map[string]codeStateMsg{}}
}

func (u *users) Title() string   { return "Users" }
func (u *users) Capturing() bool { return u.filter.active || u.confirm.open }
func (u *users) Init() tea.Cmd   { return u.list.query(u.where()) }

func (u *users) SetSize(width, height int) {
	u.width, u.height = width, height
	u.list.win.setHeight(height - 5) // counts, filter, blank, titles, footer
	lw, _, _ := paneWidths(width)    // a wide terminal shows a pane beside the list
	u.filter.setWidth(lw / 2)
	u.detail.setSize(width, height)
}

// where is the condition for the filters in force.
func (u *users) where() db.Where {
	w, _ := db.UserQuery{Status: u.status, Search: u.filter.query}.Where() // statuses come from statusCycle
	return w
}

func (u *users) KeyMap() help.KeyMap {
	km := u.d.keys
	switch {
	case u.confirm.open:
		return u.confirm.keys()
	case u.code.shown():
		return u.code.keys()
	case u.filter.active:
		back, done := km.Back, km.Open
		back.SetHelp("esc", "clear filter")
		done.SetHelp("enter", "keep filter")
		return keyHelp{short: []key.Binding{done, back}}
	case u.detail.open:
		return keyHelp{short: []key.Binding{u.codeKey(), km.Invite, km.Up, km.Down, km.Back}}
	}
	status, code, clear := km.StatusFilter, u.codeKey(), km.Back
	status.SetHelp("s", "status")
	clear.SetHelp("esc", "clear filter")
	return keyHelp{
		short: []key.Binding{km.Filter, status, km.Open, code},
		full:  [][]key.Binding{{km.Filter, km.StatusFilter, km.Open, code, km.Invite, clear}, km.nav()},
	}
}

// codeKey is i as it applies to the selected user: a setup code for a pending user, a
// recovery code for a ready one.
func (u *users) codeKey() key.Binding {
	k := u.d.keys.SetupCode
	k.SetHelp("i", "setup code")
	if row, ok := u.list.win.selected(); ok && row.Status() == db.StatusReady {
		k.SetHelp("i", "recovery code")
	}
	return k
}

// Update handles one message; afterwards, the code of the selected user is read if it is
// not known yet.
func (u *users) Update(msg tea.Msg) tea.Cmd {
	cmd := u.update(msg)
	if c := u.wantCode(); c != nil {
		return tea.Batch(cmd, c)
	}
	return cmd
}

// wantCode reads the code of the selected user, unless it is known or on its way.
func (u *users) wantCode() tea.Cmd {
	row, ok := u.list.win.selected()
	if !ok || row.Status() == db.StatusDeactivated || u.codeAsked == row.ID {
		return nil
	}
	if _, known := u.codes[row.ID]; known {
		return nil
	}
	u.codeAsked = row.ID
	return loadCode(u.d, row.ID, u.codeGen)
}

// showDetail opens (or, open, refreshes) the page of a user, with the code they hold.
func (u *users) showDetail(row db.User, refresh bool) {
	title, lines := userDetail(u.d.styles, row, u.width)
	if c, ok := u.codes[row.ID]; ok && row.Status() != db.StatusDeactivated {
		// Aligned with the page's labels: fields pads labels to the longest of its pairs.
		pairs := [][2]string{{"Display name", "-"}, codeDetail(c, u.d.now())}
		if row.Status() == db.StatusPending || c.Invited {
			pairs = append(pairs, inviteDetail(c.Invite, c.Invited, u.d.now()))
		}
		pair := fields(u.d.styles, pairs, u.width, fieldLines)[1:]
		for i, l := range lines {
			if strings.HasPrefix(ansi.Strip(l), "ID ") {
				lines = append(lines[:i:i], append(pair, lines[i:]...)...)
				break
			}
		}
	}
	if refresh {
		u.detail.replace(title, lines)
		return
	}
	u.detailID = row.ID
	u.detail.show(title, lines)
}

// forgetCodes drops what is known of users' codes and invitations (something changed),
// and any read of them still on its way: its answer may predate the change.
func (u *users) forgetCodes() {
	clear(u.codes)
	u.codeAsked = ""
	u.codeGen++
}

func (u *users) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case usersMsg:
		mine, cmd := u.list.handle(msg)
		if mine && u.detail.open {
			for _, row := range msg.Rows {
				if row.ID == u.detailID {
					u.showDetail(row, true)
				}
			}
		}
		return cmd
	case codeStateMsg:
		if msg.Gen != u.codeGen {
			return nil // read before what it knew was forgotten: a newer read is on its way
		}
		if u.codeAsked == msg.UserID {
			u.codeAsked = ""
		}
		if msg.Err != nil {
			return reportErr("Reading the user's code", msg.Err)
		}
		u.codes[msg.UserID] = msg
		if row, ok := u.list.win.selected(); ok && u.detail.open && row.ID == u.detailID && row.ID == msg.UserID {
			u.showDetail(row, true)
		}
		return nil
	case invitedMsg:
		u.forgetCodes()
		return reportInvited(msg)
	case debounceMsg:
		if u.filter.settled(msg) {
			return u.list.query(u.where())
		}
	case setupCodeMsg:
		if msg.Err != nil {
			return reportErr("Issuing a setup code", msg.Err)
		}
		u.code.show(msg, scimURL(u.d, u.beats), urlCaveat(u.d, u.beats))
		u.code.after = u.lastEventID
		u.forgetCodes()
		if msg.Code.Purpose == db.PurposeRecover {
			return report(levelOK, "Recovery code issued. Hand it over now: it is shown only once.")
		}
		return report(levelOK, "Setup code issued. Hand it over now: it is shown only once.")
	case tabShownMsg:
		u.list.win.watched = true
	case tabLeftMsg:
		u.list.win.watched = false
		u.code.hide()
		u.confirm.open = false
	case pollMsg:
		if msg.Err == nil {
			u.beats = msg.Heartbeats
			u.scimOn, u.scimKnown = msg.SCIMOn, true
		}
		var cmds []tea.Cmd
		for _, e := range msg.Events {
			u.lastEventID = max(u.lastEventID, e.ID)
			// A code issued, spent, or worn down by a wrong email (a failed attempt): what
			// is known of codes may be stale.
			if strings.HasPrefix(e.Kind, "user.") {
				u.forgetCodes()
			}
			if u.code.shown() && u.code.finished.IsZero() && e.Outcome == db.OutcomeOK && e.Kind == keyEvent(u.code.code.Purpose) &&
				e.Subject == u.code.code.UserName && e.ID > u.code.after {
				cmds = append(cmds, u.code.finish(e))
			}
		}
		// The first poll counts too: a change made between this tab's first read and that
		// poll is only in its history, and would not show until the next change.
		if touchesUsers(msg.Events) {
			cmds = append(cmds, u.list.refresh())
		}
		return tea.Batch(cmds...)
	case tea.KeyPressMsg:
		u.list.win.watched = true // keys reach a tab only while it is shown
		return u.key(msg)
	case tea.PasteMsg:
		if u.filter.active {
			_, cmd := u.filter.update(msg)
			return cmd
		}
	}
	return nil
}

func (u *users) key(k tea.KeyPressMsg) tea.Cmd {
	km := u.d.keys
	switch {
	case u.confirm.open:
		return u.confirm.update(k)
	case u.code.shown():
		return u.code.update(k)
	case u.filter.active:
		_, cmd := u.filter.update(k)
		return cmd
	}
	if u.detail.open {
		if key.Matches(k, km.SetupCode) {
			return u.setupCode()
		}
		if key.Matches(k, km.Invite) {
			return u.invite()
		}
		_, cmd := u.detail.update(k)
		return cmd
	}
	switch {
	case key.Matches(k, km.Filter):
		return u.filter.open()
	case key.Matches(k, km.StatusFilter):
		for i, s := range statusCycle {
			if s == u.status {
				u.status = statusCycle[(i+1)%len(statusCycle)]
				break
			}
		}
		return u.list.query(u.where())
	case key.Matches(k, km.Open):
		if row, ok := u.list.win.selected(); ok {
			u.showDetail(row, false)
		}
		return nil
	case key.Matches(k, km.SetupCode):
		return u.setupCode()
	case key.Matches(k, km.Invite):
		return u.invite()
	case key.Matches(k, km.Back):
		if u.filter.query != "" || u.filter.input.Value() != "" {
			u.filter.input.SetValue("")
			return u.filter.changed()
		}
		return nil
	}
	_, cmd := u.list.navigate(k)
	return cmd
}

// chosen is the user an action applies to: the selected row, and while a user's page is
// open, only the user of that page (a row that moved under it is not that user).
func (u *users) chosen() (db.User, bool) {
	row, ok := u.list.win.selected()
	if u.detail.open {
		ok = ok && row.ID == u.detailID
	}
	return row, ok
}

// setupCode asks, for a pending user, whether to issue a setup code, and for a ready one,
// whether to issue a recovery code: a new code voids the one the user may already hold,
// and a recovery code lets its holder replace the user's passphrase, so a stray key must
// not do either.
func (u *users) setupCode() tea.Cmd {
	row, ok := u.chosen()
	switch {
	case !ok:
		return report(levelInfo, "Select a user first.")
	case row.Status() == db.StatusDeactivated:
		return report(levelInfo, "This user is deactivated: the identity provider must reactivate them before any code works.")
	case row.Status() == db.StatusReady:
		who := clean(row.UserName)
		u.confirm.ask("Issue a recovery code for "+who+"?",
			"Only if "+who+" asked for it: with this code and their recovery key, whoever holds both chooses a new passphrase for "+
				who+"'s key. Hand it to "+who+" in person or over a channel you trust. Valid 24 hours, single use; a code issued before stops working.",
			issueCode(u.d, row.ID, db.PurposeRecover))
		return nil
	}
	u.confirm.ask("Issue a setup code for "+clean(row.UserName)+"?",
		"The code is valid for 24 hours and used once; it is shown once, with the command to hand over. A code issued before for this user stops working.",
		issueCode(u.d, row.ID, db.PurposeSetup))
	return nil
}

// invite asks whether to email the selected pending user a setup code: the new code
// voids the one they may hold, so a stray key must not send it.
func (u *users) invite() tea.Cmd {
	row, ok := u.chosen()
	switch {
	case !ok:
		return report(levelInfo, "Select a user first.")
	case row.Status() != db.StatusPending:
		return report(levelInfo, "Only pending users are invited: "+clean(row.UserName)+" is "+row.Status()+".")
	}
	addr, err := db.InviteAddress(row)
	if err != nil {
		return reportInvited(invitedMsg{UserName: row.UserName, Err: err})
	}
	who := clean(row.UserName)
	u.confirm.ask("Email "+who+" a setup code?",
		"To "+clean(addr)+": the command to run and a new setup code, valid 24 hours, single use; a code issued before stops working. "+
			"The server sends it if it runs with --smtp-url; until then it waits in the queue.",
		inviteOne(u.d, row.ID, row.UserName))
	return nil
}

// touchesUsers reports whether any of the events may have changed a user row (a user, a
// group membership, a key set up).
func touchesUsers(events []db.Event) bool {
	for _, e := range events {
		if e.Outcome == db.OutcomeOK && (strings.HasPrefix(e.Kind, "user.") || strings.HasPrefix(e.Kind, "group.") ||
			strings.HasPrefix(e.Kind, "setup.") || strings.HasPrefix(e.Kind, "key.")) {
			return true
		}
	}
	return false
}

func (u *users) View() string {
	st := u.d.styles
	switch {
	case u.confirm.open:
		return u.confirm.view(u.width, u.height)
	case u.code.shown():
		return u.code.view(u.width)
	case u.detail.open:
		return u.detail.view()
	}
	lw, pw, wide := paneWidths(u.width)
	if !wide {
		return u.listView(u.width)
	}
	pane := st.Dim.Render("no user selected")
	if row, ok := u.list.win.selected(); ok {
		title, lines := userDetail(st, row, pw)
		pane = paneView(strings.TrimSuffix(title, st.Dim.Render("   esc back")), lines)
	}
	return beside(st, u.listView(lw), lw, pane, pw, u.height)
}

// listView is the counts, the filters, the list and its footer, width wide.
func (u *users) listView(width int) string {
	st := u.d.styles
	var b strings.Builder
	if c := u.list.counts; c != nil {
		b.WriteString(st.Heading.Render(plural(c.Total(), "user", "users")) + "   " +
			st.Warn.Render("○ "+commas(c.Pending)+" pending") + "   " +
			st.OK.Render("● "+commas(c.Ready)+" ready") + "   " +
			st.Dim.Render("✗ "+commas(c.Deactivated)+" deactivated"))
	} else {
		b.WriteString(st.Dim.Render("counting users…"))
	}
	b.WriteString("\n")
	show := "all"
	if u.status != "" {
		show = u.status
	}
	left := u.filter.view(width / 2)
	right := st.Dim.Render("showing ") + st.Accent.Render(show) + st.Dim.Render(" (s) · newest first")
	b.WriteString(spread(left, right, width) + "\n\n")
	empty := "no users yet"
	switch {
	case u.filter.query != "" || u.status != "":
		empty = "no users match"
	case u.scimKnown && !u.scimOn:
		empty = "no users yet: once SCIM is on, assign people to the app in Okta or Entra ID"
	case u.scimKnown:
		empty = "no users yet: assign people to the app in Okta or Entra ID; they appear here"
	}
	b.WriteString(block(viewUsers(u.list, width, u.height-4, empty), width, u.height-4) + "\n")
	b.WriteString(u.footer())
	return b.String()
}

// footer is where the cursor is, with the code the selected user holds, and what the
// list holds when it is empty.
func (u *users) footer() string {
	st := u.d.styles
	w := &u.list.win
	switch {
	case !w.loaded:
		return ""
	case w.total == 0 && (u.filter.query != "" || u.status != ""):
		return st.Dim.Render("No user matches. esc clears the filter; s changes the status shown.")
	case w.total == 0:
		return st.Dim.Render(strings.TrimRight(fit(u.emptyText(), u.width, false), " "))
	}
	s := u.list.position()
	row, ok := w.selected()
	if ok && row.Status() != db.StatusDeactivated {
		c, known := u.codes[row.ID]
		switch {
		case !known:
		case row.Status() == db.StatusReady && (!c.Found || c.Code.Purpose != db.PurposeRecover):
			s += " · i issues a recovery code"
		case !c.Found:
			s += " · no setup code yet · i issues one"
		default:
			s += " · " + codeSummary(c, u.d.now())
		}
		if known && row.Status() == db.StatusPending && c.Invited {
			s += " · " + inviteSummary(c.Invite, c.Invited, u.d.now())
		}
	}
	return st.Dim.Render(strings.TrimRight(fit(s, u.width, false), " "))
}

// emptyText is what an empty user list says, by SCIM's state: off, how to switch it on;
// on, that the identity provider's push will show here.
func (u *users) emptyText() string {
	switch {
	case !u.scimKnown:
		return "No users yet."
	case !u.scimOn:
		return "No users yet: SCIM is off. Press 1, then e, to switch it on."
	}
	return "No users yet: SCIM is on; the users Okta or Entra ID push show here."
}

// spread puts left and right on one line of width, right-aligned if there is room.
func spread(left, right string, width int) string {
	gap := width - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 2 {
		return left
	}
	return left + strings.Repeat(" ", gap) + right
}

// userDetail is the detail page of a user.
func userDetail(st *styles, u db.User, width int) (string, []string) {
	status := statusCell(st, u.Status())
	const back = "   esc back"
	name := fit(clean(firstNonEmpty(userName(u), u.UserName)), width-2-ansi.StringWidth(status.Text)-len(back), false)
	title := st.Heading.Render(strings.TrimRight(name, " ")) + "  " + status.Style.Render(status.Text) + st.Dim.Render(back)
	explain := map[string]string{
		db.StatusPending:     "active, has not set up a master key yet (i issues a setup code)",
		db.StatusReady:       "active, has set up a master key (i issues a recovery code, if they forgot their passphrase)",
		db.StatusDeactivated: "the identity provider set active=false: cannot finish setup; keeps its groups",
	}[u.Status()]
	pairs := [][2]string{
		{"Email", firstNonEmpty(u.Email, "—")},
		{"User name", u.UserName},
		{"Name", firstNonEmpty(strings.TrimSpace(u.GivenName+" "+u.FamilyName), "—")},
		{"Display name", firstNonEmpty(u.DisplayName, "—")},
		{"Status", u.Status() + ": " + explain},
		{"ID", u.ID},
		{"External ID", firstNonEmpty(u.ExternalID, "—")},
		{"Created", stamp(u.Created)},
		{"Modified", stamp(u.Modified)},
		{"Version", "W/\"" + strconv.FormatInt(u.Version, 10) + "\""},
	}
	if len(u.Groups) == 0 {
		pairs = append(pairs, [2]string{"Groups", "none"})
	}
	for i, g := range u.Groups {
		label := ""
		if i == 0 {
			label = "Groups"
		}
		pairs = append(pairs, [2]string{label, g.DisplayName})
	}
	lines := fields(st, pairs, width, fieldLines)
	lines = append(lines, "", st.Heading.Render("Attributes from the identity provider"))
	var pretty bytes.Buffer
	if json.Indent(&pretty, u.Doc, "", "  ") == nil {
		for _, l := range strings.Split(pretty.String(), "\n") {
			lines = append(lines, raw(l, width)...)
		}
	} else {
		lines = append(lines, raw(string(u.Doc), width)...)
	}
	return title, lines
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
