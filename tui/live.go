package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
	"scimdesk/publicurl"
)

// feed keeps the console live. It reads the database (new events by id, the heartbeat, the
// SCIM switch) whenever the database signals a change by any process, or the server in
// this process nudges, and every pollEvery besides (for what only time changes: a
// heartbeat going stale). The resulting pollMsg goes to every tab.
type feed struct {
	d        *deps
	lastID   int64
	started  bool // the first poll (the history) has landed
	inFlight bool
	again    bool // a nudge came during a poll: poll once more when it lands

	// What the header shows.
	scimOn bool
	known  bool
	beats  []db.Heartbeat // the servers that beat at the last poll
}

func newFeed(d *deps) *feed { return &feed{d: d} }

// init starts the first poll, the ticker and, with an in-process server, the nudges.
func (f *feed) init() tea.Cmd {
	f.inFlight = true
	cmds := []tea.Cmd{poll(f.d, 0, true), tick()}
	if f.d.nudge != nil {
		cmds = append(cmds, waitNotify(f.d.ctx, f.d.nudge))
	}
	return tea.Batch(cmds...)
}

// update handles the feed's own messages and returns what to do next.
func (f *feed) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tickMsg:
		return tea.Batch(tick(), f.pollNow())
	case notifyMsg:
		return tea.Batch(waitNotify(f.d.ctx, f.d.nudge), f.pollNow())
	case scimSetMsg:
		if msg.Err == nil {
			f.scimOn, f.known = msg.On, true
		}
	case pollMsg:
		f.inFlight = false
		if msg.Err != nil {
			return reportErr("Reading the audit log", msg.Err)
		}
		if msg.Initial {
			f.started = true
		}
		if n := len(msg.Events); n > 0 {
			f.lastID = max(f.lastID, msg.Events[n-1].ID)
		}
		f.scimOn, f.known = msg.SCIMOn, true
		f.beats = msg.Heartbeats
		if msg.More || f.again {
			f.again = false
			return f.pollNow()
		}
	}
	return nil
}

// pollNow polls unless a poll is already out (then it polls again when that one lands).
func (f *feed) pollNow() tea.Cmd {
	if f.inFlight {
		f.again = true
		return nil
	}
	f.inFlight = true
	return poll(f.d, f.lastID, !f.started)
}

// badge is the header's summary: whether a server answers and, if one does, whether
// SCIM is on. It is short, so it fits beside the tabs at 80 columns.
func (f *feed) badge(st *styles) string {
	switch {
	case !f.known:
		return st.Dim.Render("SCIM …")
	case !serverState(f.d, f.beats, f.d.now()).up:
		return st.Fail.Render("✗ no server")
	case f.scimOn:
		return st.OK.Render("SCIM ● on")
	}
	return st.Warn.Render("SCIM ○ off")
}

// scimURLs are the base URLs the identity provider may be given, each once: the in-process
// server's first, then those the servers in other processes beat with. Instances behind a
// load balancer share one public URL; more than one means they disagree (or some were
// started without --public-url), and the admin sees them all.
func scimURLs(d *deps, beats []db.Heartbeat) []string {
	var urls []string
	if d.server != nil {
		urls = append(urls, d.server.SCIMURL())
	}
	for _, h := range others(d, beats, d.now()) {
		if h.PublicURL == "" {
			continue
		}
		if u := strings.TrimRight(h.PublicURL, "/") + "/scim/v2"; !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls
}

// scimURL is the base URL the identity provider needs, the one copied: from the server in
// this process, else from the heartbeat of the longest-running server in another process;
// "" when none runs.
func scimURL(d *deps, beats []db.Heartbeat) string {
	if urls := scimURLs(d, beats); len(urls) > 0 {
		return urls[0]
	}
	return ""
}

// urlCaveat says why the SCIM URL cannot be pasted elsewhere (loopback, or a guess for a
// wildcard listen), naming the fix; "" when it can, or when there is no URL.
func urlCaveat(d *deps, beats []db.Heartbeat) string {
	url := scimURL(d, beats)
	if url == "" {
		return ""
	}
	var addr string
	if d.server != nil {
		addr = d.server.Addr()
	} else {
		// The server whose URL it is.
		for _, h := range others(d, beats, d.now()) {
			if strings.TrimRight(h.PublicURL, "/")+"/scim/v2" == url {
				addr = h.Addr
				break
			}
		}
	}
	return publicurl.Caveat(strings.TrimSuffix(url, "/scim/v2"), addr)
}

// server is what the console knows of the server that serves this database.
type server struct {
	up      bool
	summary string // one line: where it listens, or why it does not
}

// ownBeat reports whether h is the heartbeat of this process's server.
func ownBeat(d *deps, h db.Heartbeat) bool {
	return h.PID == d.pid && (h.Host == "" || h.Host == d.host)
}

// others are the fresh heartbeats of servers in other processes, on this host or another:
// the one rule for "this console is attached to those servers". The longest running
// comes first.
func others(d *deps, beats []db.Heartbeat, now time.Time) []db.Heartbeat {
	var out []db.Heartbeat
	for _, h := range beats {
		if !ownBeat(d, h) && h.Fresh(now) {
			out = append(out, h)
		}
	}
	return out
}

// where names the process of heartbeat h for the admin: its pid, and its host when that
// is not this one.
func where(d *deps, h db.Heartbeat) string {
	if h.Host == "" || h.Host == d.host {
		return fmt.Sprintf("pid %d", h.PID)
	}
	return fmt.Sprintf("pid %d on %s", h.PID, clean(h.Host))
}

// serverState says whether a server answers for this database, from the in-process
// server, the start-up error, or the heartbeats of servers in other processes.
func serverState(d *deps, beats []db.Heartbeat, now time.Time) server {
	tlsWord := func(on bool) string {
		if on {
			return "HTTPS"
		}
		return "HTTP, no TLS"
	}
	other := others(d, beats, now)
	switch {
	case d.server != nil && d.remote:
		return server{up: true, summary: fmt.Sprintf("listening on %s (%s), in the service you reached over SSH", d.server.Addr(), tlsWord(d.server.TLS()))}
	case d.server != nil:
		return server{up: true, summary: fmt.Sprintf("listening on %s (%s), in this process", d.server.Addr(), tlsWord(d.server.TLS()))}
	case len(other) == 1:
		// Another process serves this database: the one found at start, or one started
		// since (after this console failed to bind).
		h := other[0]
		return server{up: true, summary: fmt.Sprintf("attached to the server running in %s, on %s (%s)", where(d, h), clean(h.Addr), tlsWord(h.TLS))}
	case len(other) > 1:
		return server{up: true, summary: fmt.Sprintf("attached to the %d servers of this database, in other processes", len(other))}
	case d.attachedPID != 0 && (db.Heartbeat{PID: d.attachedPID}).Gone():
		// The other process may be `scimdesk serve` or another console: say neither.
		return server{summary: fmt.Sprintf("the scimdesk serving this database (pid %d) has stopped: restart `scimdesk` or `scimdesk serve` to serve it again", d.attachedPID)}
	case d.attachedPID != 0:
		return server{summary: fmt.Sprintf("the scimdesk serving this database (pid %d) has written no heartbeat for %s: is it hung? If it stopped, restart `scimdesk` or `scimdesk serve`", d.attachedPID, db.StaleBeat)}
	case d.serverErr != nil:
		return server{summary: "not running: " + d.serverErr.Error()}
	}
	return server{summary: "not running"}
}
