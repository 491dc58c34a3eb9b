package scimserver

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"scimdesk/db"
)

// authenticated checks the bearer token and the SCIM switch on every request, against the
// database, so that a revocation or a disable from any process applies to the very next
// request. The last use of the token is kept in memory and flushed with the heartbeat.
func (s *Server) authenticated(h func(http.ResponseWriter, *http.Request, *call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		c := &call{addr: clientAddr(r), agent: truncate(r.UserAgent(), 200)}
		s.requests.Add(1)
		s.mu.Lock()
		s.lastAt, s.lastUA = now, c.agent
		s.mu.Unlock()

		secret, ok := bearer(r)
		if !ok {
			s.refuse(w, r, c, "missing bearer token", "no Authorization: Bearer header")
			return
		}
		a, err := s.db.Authenticate(r.Context(), secret, now)
		if err != nil {
			s.logErr(r.Context(), "authenticate", err)
			writeError(w, storeErr(err))
			return
		}
		switch {
		case !a.Found:
			s.refuse(w, r, c, "unknown token", "the bearer token is not valid")
			return
		case a.Revoked:
			c.tokenID = a.TokenID
			s.refuse(w, r, c, "revoked token", "the bearer token has been revoked")
			return
		case a.Expired && a.Rotated:
			// Said apart from a plain expiry: the fix is to paste the new secret, which
			// the admin already has, not to make another token.
			c.tokenID = a.TokenID
			s.refuse(w, r, c, "rotated token", "the bearer token was rotated and its overlap has ended: use the new token")
			return
		case a.Expired:
			c.tokenID = a.TokenID
			s.refuse(w, r, c, "expired token", "the bearer token has expired")
			return
		}
		c.tokenID = a.TokenID
		s.mu.Lock()
		s.uses[a.TokenID] = db.TokenUse{TokenID: a.TokenID, At: now, Addr: c.addr, Agent: c.agent}
		s.mu.Unlock()
		if !a.SCIMEnabled {
			// Recorded (throttled like refused logins) so that the admin sees the identity
			// provider knocking while provisioning is switched off.
			s.refused.add(r.Context(), s, c.event("scim.refused", truncate(r.Method, logMethodBytes)+" "+truncate(r.URL.Path, 100), http.StatusForbidden, "SCIM provisioning is disabled"))
			writeError(w, &Error{Status: http.StatusForbidden, Detail: "SCIM provisioning is disabled"})
			return
		}
		// Reads are recorded only as connection tests and first uses, decided in memory
		// once the answer is known (see probes.go).
		first := a.NeverUsed && s.probes.claimFirst(a.TokenID)
		rs := &readStats{total: -1}
		r = r.WithContext(context.WithValue(r.Context(), readStatsKey{}, rs))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r, c)
		s.observeRead(r.Context(), r, c, sw.status, rs, first)
	})
}

// bearer extracts the token of an "Authorization: Bearer <token>" header. The header is
// never logged.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != "" && len(tok) <= 512
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, c *call, why, detail string) {
	s.refused.add(r.Context(), s, c.event("auth.refused", truncate(r.Method, logMethodBytes)+" "+truncate(r.URL.Path, 100), http.StatusUnauthorized, why))
	writeError(w, &Error{Status: http.StatusUnauthorized, Detail: detail})
}

// refusedLog records refusals without letting a flood fill the disk: at most perWindow
// events are written one by one per window; the rest are counted and summed up in one
// event. The summary is written by flush (with the heartbeat, every 2 s, and before each
// setup request) once the refusals have paused for quiet, or the window has ended: so it
// reaches the audit log within seconds of the last refusal it counts, even when no request
// follows, and a sustained flood still gives only a few summaries a window.
type refusedLog struct {
	mu sync.Mutex
	// window, quiet and perWindow are the policy; zero means the defaults below. Tests in
	// this package shorten them.
	window, quiet time.Duration
	perWindow     int

	windowEnds time.Time
	recorded   int
	pending    refusedSummary
}

// refusedSummary counts the refusals of a window not written one by one.
type refusedSummary struct {
	n           int
	first, last time.Time
	lastEvent   db.Event
	addrs       map[string]struct{} // distinct client addresses, up to maxSummaryAddrs
}

const (
	refusedWindow    = time.Minute
	refusedQuiet     = 2 * time.Second
	refusedPerWindow = 10
	// maxSummaryAddrs bounds the memory spent counting distinct addresses in a flood.
	maxSummaryAddrs = 1000
)

func (l *refusedLog) policy() (window, quiet time.Duration, perWindow int) {
	window, quiet, perWindow = cmp.Or(l.window, refusedWindow), cmp.Or(l.quiet, refusedQuiet), cmp.Or(l.perWindow, refusedPerWindow)
	return
}

func (l *refusedLog) add(ctx context.Context, s *Server, e db.Event) {
	l.mu.Lock()
	now := time.Now()
	window, _, perWindow := l.policy()
	var summary *db.Event
	if now.After(l.windowEnds) {
		summary = l.closeWindow()
		l.windowEnds = now.Add(window)
	}
	record := l.recorded < perWindow
	if record {
		l.recorded++
	} else {
		l.pending.count(e, now)
	}
	l.mu.Unlock()
	if summary != nil {
		s.record(ctx, *summary)
	}
	if record {
		s.record(ctx, e)
	}
}

// flush writes the summary of the refusals counted so far once they have paused for the
// quiet time or their window has ended.
func (l *refusedLog) flush(ctx context.Context, s *Server) {
	l.mu.Lock()
	now := time.Now()
	_, quiet, _ := l.policy()
	var summary *db.Event
	switch {
	case now.After(l.windowEnds):
		summary = l.closeWindow()
	case l.pending.n > 0 && now.Sub(l.pending.last) >= quiet:
		// The window stays open, so that its budget of single events still holds.
		summary = l.pending.event()
		l.pending = refusedSummary{}
	}
	l.mu.Unlock()
	if summary != nil {
		s.record(ctx, *summary)
	}
}

// drain writes the summary of whatever is counted, at once: at shutdown, so that a flood
// the server saw last is not lost with the process.
func (l *refusedLog) drain(ctx context.Context, s *Server) {
	l.mu.Lock()
	summary := l.closeWindow()
	l.mu.Unlock()
	if summary != nil {
		s.record(ctx, *summary)
	}
}

// closeWindow ends the window and returns its summary, if anything was left unrecorded.
func (l *refusedLog) closeWindow() *db.Event {
	e := l.pending.event()
	l.recorded, l.pending = 0, refusedSummary{}
	return e
}

// count adds a refusal at now that is not written on its own.
func (p *refusedSummary) count(e db.Event, now time.Time) {
	if p.n == 0 {
		p.first = now
	}
	p.n++
	p.last, p.lastEvent = now, e
	if p.addrs == nil {
		p.addrs = map[string]struct{}{}
	}
	if len(p.addrs) < maxSummaryAddrs {
		p.addrs[e.Addr] = struct{}{}
	}
}

// event is the summary of the counted refusals, or nil if there are none. It is stamped
// with the time of the last of them and carries its address, kind and status, and says
// how many, from how many addresses, over which span of time.
func (p *refusedSummary) event() *db.Event {
	if p.n == 0 {
		return nil
	}
	e := p.lastEvent
	e.At = p.last
	addrs := fmt.Sprintf("%d addresses", len(p.addrs))
	switch {
	case len(p.addrs) == 1:
		addrs = "1 address"
	case len(p.addrs) >= maxSummaryAddrs:
		addrs = "at least " + addrs
	}
	span := p.last.UTC().Format("15:04:05")
	if !p.first.Equal(p.last) {
		span = "between " + p.first.UTC().Format("15:04:05") + " and " + p.last.UTC().Format("15:04:05 UTC")
	} else {
		span = "at " + span + " UTC"
	}
	e.Summary = truncate(fmt.Sprintf("%d more refusals not recorded one by one, from %s, %s; last from %s: %s",
		p.n, addrs, span, e.Addr, e.Summary), 500)
	return &e
}

// record writes an event on its own and nudges the console. Used for failures, whose
// transaction (if any) was rolled back.
func (s *Server) record(ctx context.Context, e db.Event) {
	if err := s.db.InsertEvent(context.WithoutCancel(ctx), e); err != nil {
		s.logErr(ctx, "record event", err, "kind", e.Kind)
		return
	}
	s.published()
}
