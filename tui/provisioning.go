package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"scimdesk/db"
)

// provisioning is tab 1: the SCIM switch, the URL to paste into the identity provider,
// the server's state and traffic, and what to type into Okta.
type provisioning struct {
	readErr       error // the last read of the database failed (nil once one works again)
	d             *deps
	width, height int
	scroll        int // the first line shown, when the page is taller than the screen
	scimOn, known bool
	beats         []db.Heartbeat // the servers that beat at the last poll
	usable        int            // tokens that are active or expiring
	tokensKnown   bool
	tokensEver    int        // tokens in the database, whatever their state
	expiring      []db.Token // tokens to rotate soon (db.ExpiringTokens), soonest first
	oidc          db.OIDCConfig
	confirm       confirm
	onboard       onboardingMsg // where the pending users stand, as last counted
	onboardAsked  bool          // a count is on its way
}

func newProvisioning(d *deps) *provisioning {
	return &provisioning{d: d, confirm: confirm{d: d}}
}

func (p *provisioning) Title() string             { return "Provisioning" }
func (p *provisioning) Init() tea.Cmd             { return nil } // the feed's first poll brings the state
func (p *provisioning) SetSize(width, height int) { p.width, p.height = width, height }
func (p *provisioning) Capturing() bool           { return p.confirm.open }

func (p *provisioning) KeyMap() help.KeyMap {
	if p.confirm.open {
		return p.confirm.keys()
	}
	km := p.d.keys
	toggle := km.ToggleSCIM
	if p.scimOn {
		toggle.SetHelp("e", "disable SCIM")
	} else {
		toggle.SetHelp("e", "enable SCIM")
	}
	copyURL := km.Copy
	copyURL.SetHelp("c", "copy SCIM URL")
	invite := km.Invite
	invite.SetHelp("m", "email codes to pending")
	// m is in the full help only: the Pending line says it where it applies, and the
	// short line keeps room for the keys every admin needs.
	return keyHelp{short: []key.Binding{toggle, copyURL}, full: [][]key.Binding{{toggle, copyURL, invite}}}
}

func (p *provisioning) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case pollMsg:
		p.readErr = msg.Err
		if msg.Err == nil {
			p.scimOn, p.known = msg.SCIMOn, true
			p.beats = msg.Heartbeats
			p.oidc = msg.OIDC
			stale := p.onboard.At.IsZero() || touchesUsers(msg.Events) || p.d.now().Sub(p.onboard.At) > onboardingEvery
			if stale && !p.onboardAsked {
				p.onboardAsked = true
				return loadOnboarding(p.d)
			}
		}
	case onboardingMsg:
		p.onboardAsked = false
		if msg.Err != nil {
			return reportErr("Counting the pending users", msg.Err)
		}
		p.onboard = msg
	case invitedAllMsg:
		p.onboard.At = time.Time{} // count again at the next poll
		return reportInvitedAll(msg)
	case tokensMsg:
		if msg.Err == nil {
			p.usable, p.tokensKnown, p.tokensEver = 0, true, len(msg.Tokens)
			now := p.d.now()
			for _, t := range msg.Tokens {
				if s := t.Status(now); s == db.TokenActive || s == db.TokenExpiring {
					p.usable++
				}
			}
			p.expiring = db.ExpiringTokens(msg.Tokens, now)
		}
	case scimSetMsg:
		if msg.Err != nil {
			return reportErr("Switching SCIM", msg.Err)
		}
		p.scimOn, p.known = msg.On, true
		if msg.On {
			return report(levelOK, "SCIM provisioning is enabled: the identity provider's requests are served.")
		}
		return report(levelOK, "SCIM provisioning is disabled: every SCIM request now gets 403. Tokens and users stay.")
	case tea.KeyPressMsg:
		if p.confirm.open {
			return p.confirm.update(msg)
		}
		return p.key(msg)
	}
	return nil
}

func (p *provisioning) key(k tea.KeyPressMsg) tea.Cmd {
	km := p.d.keys
	switch {
	case key.Matches(k, km.Down):
		p.scroll++
	case key.Matches(k, km.Up):
		p.scroll--
	case key.Matches(k, km.PageDown):
		p.scroll += max(1, p.height-1)
	case key.Matches(k, km.PageUp):
		p.scroll -= max(1, p.height-1)
	case key.Matches(k, km.Top):
		p.scroll = 0
	case key.Matches(k, km.Bottom):
		p.scroll = 1 << 20 // View clamps it
	case key.Matches(k, km.ToggleSCIM):
		if !p.known {
			return report(levelInfo, "Still reading the SCIM switch; try again in a second.")
		}
		if !p.scimOn {
			return setSCIM(p.d, true)
		}
		p.confirm.ask("Disable SCIM provisioning?",
			"Okta and Entra ID get 403 on every SCIM request until you enable it again. Users, groups and tokens stay as they are.",
			setSCIM(p.d, false))
	case key.Matches(k, km.Invite):
		c := p.onboard.Counts
		switch {
		case p.onboard.At.IsZero():
			return report(levelInfo, "Still counting the pending users; try again in a second.")
		case c.NothingOut == 0:
			return report(levelInfo, "Every pending user has a setup code or an invitation out: nothing to send.")
		}
		p.confirm.ask("Email setup codes to "+plural(c.NothingOut, "pending user", "pending users")+" with nothing out?",
			"Each gets the command to run and a new setup code, valid 24 hours, single use. Users with a code or an invitation out are left alone; "+
				"users without an email address are skipped. The server sends them if it runs with --smtp-url; until then they wait in the queue.",
			inviteAll(p.d))
	case key.Matches(k, km.Copy):
		url := p.scimURL()
		if url == "" {
			return report(levelErr, "No SCIM URL to copy: no server is running for this database.")
		}
		return copyText(p.d, "the SCIM URL", url)
	}
	return nil
}

// scimURL is the base URL the identity provider needs: from the server in this process,
// else from the heartbeat of the one in another process.
func (p *provisioning) scimURL() string { return scimURL(p.d, p.beats) }

func (p *provisioning) View() string {
	if p.confirm.open {
		return p.confirm.view(p.width, p.height)
	}
	st := p.d.styles
	now := p.d.now()
	srv := serverState(p.d, p.beats, now)
	urls := scimURLs(p.d, p.beats)
	url := p.scimURL()
	servers := p.servers(now)
	var lines []string
	add := func(label, value string) { lines = append(lines, kv(st, label, value, p.width)...) }

	switch {
	case !p.known:
		add("SCIM", st.Dim.Render("reading…"))
	case p.scimOn:
		add("SCIM", st.OK.Render("● enabled")+st.Dim.Render(": Okta and Entra ID can create, update and deactivate users"))
	default:
		add("SCIM", st.Warn.Render("○ disabled")+st.Dim.Render(": SCIM requests get 403. Press e to enable."))
	}
	switch {
	case len(urls) == 1:
		add("SCIM URL", st.Accent.Render(url)+"   "+st.Dim.Render("(c copies it)"))
	case len(urls) > 1:
		// Instances behind one load balancer share its URL: these do not, so the admin
		// sees every one, with the server that gives it, and chooses.
		for i, u := range urls {
			label, note := "", st.Dim.Render(" ("+p.urlOf(u, servers)+")")
			if i == 0 {
				label, note = "SCIM URL", st.Dim.Render(" ("+p.urlOf(u, servers)+"; c copies it)")
			}
			add(label, st.Accent.Render(u)+note)
		}
		add("", st.Warn.Render("▲ the servers give different URLs: the identity provider needs the one that reaches them all (the same --public-url on each)"))
	default:
		add("SCIM URL", st.Dim.Render("unknown while no server runs for this database"))
	}
	switch {
	case p.readErr != nil:
		// The heartbeats cannot be read either: the database, not the servers, is what is
		// known to fail (PostgreSQL down or out of reach). What the tab shows is as it was.
		add("Database", st.Fail.Render("✗ cannot read it: "+clean(p.readErr.Error())))
		add("", st.Dim.Render("what this tab shows is from the last successful read; the servers' state is unknown until it works again"))
	case srv.up:
		add("Server", srv.summary)
	default:
		add("Server", st.Fail.Render("✗ "+srv.summary))
	}
	if strings.HasPrefix(url, "http://") {
		add("", st.Warn.Render("▲ Okta needs HTTPS: --acme-domain, --tls-cert/--tls-key, or a proxy + --public-url"))
	}
	if c := urlCaveat(p.d, p.beats); c != "" {
		add("", st.Warn.Render("▲ "+c))
	}
	// After the URL's warnings, which are about the SCIM server above.
	if len(servers) > 1 {
		lines = append(lines, p.serverTable(servers, now)...)
	}
	for i, line := range sshLines(p.d, p.beats) {
		label := ""
		if i == 0 {
			label = "SSH"
		}
		add(label, line)
	}
	add("Sign-in", p.signIn(st))
	add("Requests", p.requests(servers))
	add("Tokens", p.tokens())
	if w := p.tokenRisk(now); w != "" {
		add("", w)
	}
	for _, t := range p.expiring {
		add("", expiringWarning(st, t, now))
	}
	if p.onboard.At.IsZero() {
		add("Pending", st.Dim.Render("counting…"))
	} else {
		add("Pending", onboardingLine(st, p.onboard.Counts))
	}

	lines = append(lines, "", st.Heading.Render("In Okta")+st.Dim.Render(" (Applications › your app › Provisioning)"))
	steps := []string{
		"Integration › SCIM connector base URL: the SCIM URL above",
		"Unique identifier field for users: " + st.Key.Render("email"),
		"Provisioning actions: Push New Users, Push Profile Updates, Push Groups",
		"Authentication Mode: HTTP Header; Authorization: a token from tab 2",
		"Test Connector Configuration: the request shows above and in tab 5",
		"To App: enable Create Users, Update User Attributes, Deactivate Users",
	}
	for i, s := range steps {
		lines = append(lines, hang(" "+string(rune('1'+i))+". ", s, p.width)...)
	}
	lines = append(lines, "")
	lines = append(lines, hang("", st.Dim.Render("Entra ID: Provisioning › Admin Credentials: Tenant URL = the SCIM URL, Secret Token = a token."), p.width)...)
	return strings.Join(p.window(lines), "\n")
}

// window is the part of the page that fits the screen: on a small terminal (80x24 with
// every warning shown) the page scrolls with j/k, and its last line says what is below
// rather than cutting the Okta and Entra steps off unseen.
func (p *provisioning) window(lines []string) []string {
	if p.height <= 1 || len(lines) <= p.height {
		p.scroll = 0
		return lines
	}
	room := p.height - 1 // the last line says where the page continues
	p.scroll = max(0, min(p.scroll, len(lines)-room))
	out := append([]string{}, lines[p.scroll:p.scroll+room]...)
	below := len(lines) - p.scroll - room
	switch {
	case below > 0:
		out = append(out, p.d.styles.Accent.Render(fmt.Sprintf("↓ %s (j, pgdn)", plural(below, "more line", "more lines"))))
	default:
		out = append(out, p.d.styles.Dim.Render("↑ k, g: back to the top"))
	}
	return out
}

// servers are the heartbeats of the servers that serve this database: this process's
// first (when it serves), then those in other processes, the longest running first.
func (p *provisioning) servers(now time.Time) []db.Heartbeat {
	var out []db.Heartbeat
	if p.d.server != nil {
		for _, h := range p.beats {
			if ownBeat(p.d, h) {
				out = append(out, h)
			}
		}
	}
	return append(out, others(p.d, p.beats, now)...)
}

// urlOf names the servers that give url, for the list of URLs that disagree.
func (p *provisioning) urlOf(url string, servers []db.Heartbeat) string {
	var who []string
	if p.d.server != nil && p.d.server.SCIMURL() == url {
		who = append(who, "this process")
	}
	for _, h := range servers {
		if !ownBeat(p.d, h) && strings.TrimRight(h.PublicURL, "/")+"/scim/v2" == url {
			who = append(who, where(p.d, h))
		}
	}
	return strings.Join(who, ", ")
}

// Widths of the server table's columns (the host and address take what is left).
const (
	colPID      = 7
	colUptime   = 7
	colRequests = 9
	colLast     = 8
	// serverTableFixed is the table's width without its host and address: the mark,
	// the fixed columns and the spaces between all of them.
	serverTableFixed = 2 + colPID + colUptime + colRequests + colLast + 6
)

// serverTable lists the servers of this database, one line each under a heading: host,
// pid, listen address, uptime, requests served and the age of the last, with this
// process's marked. Several servers are instances behind a load balancer; the admin sees
// which of them take traffic. Lines are cut to the page's width, the host and address
// first.
func (p *provisioning) serverTable(servers []db.Heartbeat, now time.Time) []string {
	st := p.d.styles
	// The host and address columns are as wide as their longest, when they fit; else
	// the address keeps what it needs up to all but 8 cells, and the host the rest. Both
	// are cut in the middle: a port and the unique tail of a host name (a pod's) stay.
	// Below 80 columns the uptime and last request's age go first, so that host and
	// address stay readable.
	room := p.width - labelWidth - serverTableFixed
	times := room >= 24
	if !times {
		room += colUptime + colLast + 2
	}
	room = max(0, room)
	hostW, addrW := len("host"), len("address")
	for _, h := range servers {
		hostW, addrW = max(hostW, ansi.StringWidth(clean(h.Host))), max(addrW, ansi.StringWidth(clean(h.Addr)))
	}
	if hostW+addrW > room {
		addrW = min(addrW, max(room/2, room-8))
		hostW = room - addrW
	}
	hostW, addrW = max(4, hostW), max(4, addrW)
	row := func(mark, host, pid, addr, up, reqs, last string) string {
		r := mark + fitMiddle(host, hostW) + " " + fit(pid, colPID, true) + "  " + fitMiddle(addr, addrW)
		if times {
			r += " " + fit(up, colUptime, true)
		}
		r += " " + fit(reqs, colRequests, true)
		if times {
			r += " " + fit(last, colLast, true)
		}
		return r
	}
	cut := func(s string) string { return ansi.Truncate(s, max(1, p.width), "…") }
	head := st.Label.Render(fit("Servers", labelWidth, false)) + st.Dim.Render(row("  ", "host", "pid", "address", "up", "requests", "last req"))
	lines := []string{cut(strings.TrimRight(head, " "))}
	for _, h := range servers {
		mark := "  "
		if ownBeat(p.d, h) {
			mark = "› "
		}
		host := clean(h.Host)
		if host == "" {
			host = "?"
		}
		line := strings.Repeat(" ", labelWidth) + row(mark, host, strconv.Itoa(h.PID), clean(h.Addr), uptime(now.Sub(h.Started)),
			commas(int(h.Requests)), ago(now, h.LastRequest))
		lines = append(lines, cut(strings.TrimRight(line, " ")))
	}
	if len(servers) > 0 && ownBeat(p.d, servers[0]) {
		lines = append(lines, strings.Repeat(" ", labelWidth)+st.Dim.Render("› this process"))
	}
	return lines
}

// served is what servers served, together: the requests, and the last one with its client.
type served struct {
	requests int64
	last     time.Time
	agent    string
}

// traffic adds up what the servers of the heartbeats served.
func traffic(servers []db.Heartbeat) served {
	var s served
	for _, h := range servers {
		s.requests += h.Requests
		if h.LastRequest.After(s.last) {
			s.last, s.agent = h.LastRequest, h.LastUserAgent
		}
	}
	return s
}

// requests is the servers' traffic: how many, and the last one with its client, so the
// admin sees Okta's "Test Connector Configuration" arrive, whichever server it reached.
func (p *provisioning) requests(servers []db.Heartbeat) string {
	st := p.d.styles
	if len(servers) == 0 {
		if p.d.server != nil {
			return "0 served" // the server writes its first heartbeat as it starts
		}
		return st.Dim.Render("— (no server is running)")
	}
	t := traffic(servers)
	s := commas(int(t.requests)) + " served"
	if len(servers) > 1 {
		s += " by " + strconv.Itoa(len(servers)) + " servers"
	}
	if t.last.IsZero() {
		return s + st.Dim.Render(" · Okta's “Test Connector Configuration” shows here")
	}
	return s + " · last " + ago(p.d.now(), t.last) + " from " + st.Accent.Render(idpOf(t.agent)) + st.Dim.Render(" ("+clean(t.agent)+")")
}

// tokens says whether there is a token to paste into the identity provider.
func (p *provisioning) tokens() string {
	st := p.d.styles
	switch {
	case !p.tokensKnown:
		return st.Dim.Render("reading…")
	case p.usable == 0 && p.tokensEver > 0:
		return st.Fail.Render("✗ no usable token") + ": every token expired or was revoked, so the identity provider gets 401. Create one in tab 2 (n)."
	case p.usable == 0:
		return st.Warn.Render("▲ no usable token") + st.Dim.Render(": create one in tab 2 (n)")
	}
	return plural(p.usable, "usable token", "usable tokens") + st.Dim.Render(" · manage them in tab 2")
}

// tokenRisk warns when every usable token expires within db.ExpiringSoon: then, unless
// the admin acts, provisioning stops on the last expiry. One token expiring among others
// that live on is only listed (expiringWarning); "" when there is nothing to warn of.
func (p *provisioning) tokenRisk(now time.Time) string {
	if !p.tokensKnown || p.usable == 0 || len(p.expiring) < p.usable {
		return ""
	}
	last := p.expiring[len(p.expiring)-1].Expires
	every := "every usable token expires"
	if p.usable == 1 {
		every = "the only usable token expires"
	}
	return p.d.styles.Warn.Render("▲ "+every+" within 14 days") +
		": provisioning stops " + day(last) + " (" + until(now, last) + ") unless you rotate one in tab 2 (r)"
}

// labelWidth is the width of the label column on the Provisioning tab.
const labelWidth = 10

// kv is a label and a value wrapped under itself.
func kv(st *styles, label, value string, width int) []string {
	return hang(st.Label.Render(fit(label, labelWidth, false)), value, width)
}

// hang wraps text to width, indenting the lines after the first under prefix's end.
func hang(prefix, text string, width int) []string {
	pw := lipgloss.Width(prefix)
	body := lipgloss.NewStyle().Width(max(10, width-pw)).Render(text)
	lines := strings.Split(body, "\n")
	pad := strings.Repeat(" ", pw)
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
		if i == 0 {
			lines[i] = prefix + lines[i]
		} else {
			lines[i] = pad + lines[i]
		}
	}
	return lines
}

// expiringWarning names a token that expires soon, with the days it has left, and says
// how to replace it before the identity provider gets 401.
func expiringWarning(st *styles, t db.Token, now time.Time) string {
	left := plural(t.DaysLeft(now), "day", "days") + " left"
	if t.Expires.Sub(now) < 24*time.Hour {
		left = "expires " + until(now, t.Expires)
	}
	if !now.Before(t.Expires) {
		left = "expired"
	}
	return st.Warn.Render("▲ token “"+clean(t.Description)+"” ("+t.ID+"): "+left) + st.Dim.Render(": rotate it in tab 2 (r)")
}

// signIn is how pending users prove who they are: the identity provider's app, or codes only.
func (p *provisioning) signIn(st *styles) string {
	if !p.known {
		return st.Dim.Render("…")
	}
	if !p.oidc.Configured() {
		return st.Dim.Render("setup codes only (scimdesk oidc set --issuer URL --client-id ID)")
	}
	return clean(p.oidc.Issuer) + ", client id " + clean(p.oidc.ClientID)
}
