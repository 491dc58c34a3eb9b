package tui

import (
	"fmt"
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
	scimOn    bool
	known     bool
	heartbeat db.Heartbeat
	beatOK    bool
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
		f.heartbeat, f.beatOK = msg.Heartbeat, msg.HeartbeatOK
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
	case !serverState(f.d, f.heartbeat, f.beatOK, f.d.now()).up:
		return st.Fail.Render("✗ no server")
	case f.scimOn:
		return st.OK.Render("SCIM ● on")
	}
	return st.Warn.Render("SCIM ○ off")
}

// scimURL is the base URL the identity provider needs: from the server in this process,
// else from the heartbeat of the server in another process; "" when none runs.
func scimURL(d *deps, h db.Heartbeat, beatOK bool) string {
	if d.server != nil {
		return d.server.SCIMURL()
	}
	if beatOK && h.PublicURL != "" && serverState(d, h, beatOK, d.now()).up {
		return strings.TrimRight(h.PublicURL, "/") + "/scim/v2"
	}
	return ""
}

// urlCaveat says why the SCIM URL cannot be pasted elsewhere (loopback, or a guess for a
// wildcard listen), naming the fix; "" when it can, or when there is no URL.
func urlCaveat(d *deps, h db.Heartbeat, beatOK bool) string {
	url := scimURL(d, h, beatOK)
	if url == "" {
		return ""
	}
	addr := h.Addr
	if d.server != nil {
		addr = d.server.Addr()
	}
	return publicurl.Caveat(strings.TrimSuffix(url, "/scim/v2"), addr)
}

// server is what the console knows of the server that serves this database.
type server struct {
	up      bool
	summary string // one line: where it listens, or why it does not
}

// staleAfter is how old a heartbeat may be before the server counts as gone; the server
// writes one every two seconds.
const staleAfter = 10 * time.Second

// otherServerBeats reports whether h is a fresh heartbeat of a server in another process:
// the one rule for "this console is attached to that server".
func otherServerBeats(d *deps, h db.Heartbeat, beatOK bool, now time.Time) bool {
	return beatOK && h.PID != d.pid && now.Sub(h.Beat) < staleAfter
}

// serverState says whether a server answers for this database, from the in-process
// server, the start-up error, or another process's heartbeat.
func serverState(d *deps, h db.Heartbeat, beatOK bool, now time.Time) server {
	tlsWord := func(on bool) string {
		if on {
			return "HTTPS"
		}
		return "HTTP, no TLS"
	}
	fresh := otherServerBeats(d, h, beatOK, now)
	switch {
	case d.server != nil && d.remote:
		return server{up: true, summary: fmt.Sprintf("listening on %s (%s), in the service you reached over SSH", d.server.Addr(), tlsWord(d.server.TLS()))}
	case d.server != nil:
		return server{up: true, summary: fmt.Sprintf("listening on %s (%s), in this process", d.server.Addr(), tlsWord(d.server.TLS()))}
	case fresh:
		// Another process serves this database: the one found at start, or one started
		// since (after this console failed to bind).
		return server{up: true, summary: fmt.Sprintf("attached to the server running in pid %d, on %s (%s)", h.PID, h.Addr, tlsWord(h.TLS))}
	case d.attachedPID != 0 && !beatOK:
		// The other process may be `scimdesk serve` or another console: say neither.
		return server{summary: fmt.Sprintf("the scimdesk serving this database (pid %d) has stopped: restart `scimdesk` or `scimdesk serve` to serve it again", d.attachedPID)}
	case d.attachedPID != 0:
		return server{summary: fmt.Sprintf("the scimdesk serving this database (pid %d) has written no heartbeat since %s: is it hung? If it stopped, restart `scimdesk` or `scimdesk serve`", h.PID, stamp(h.Beat))}
	case d.serverErr != nil:
		return server{summary: "not running: " + d.serverErr.Error()}
	}
	return server{summary: "not running"}
}
