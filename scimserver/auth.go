package scimserver

import (
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
			s.log.Error("authenticate", "err", err)
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
		h(w, r, c)
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

// refusedLog records refused authentications without letting a flood fill the disk: at
// most refusedPerWindow events per window; the rest are counted and summed up in one event
// when the window closes.
type refusedLog struct {
	mu         sync.Mutex
	windowEnds time.Time
	recorded   int
	suppressed int
	last       db.Event
}

const (
	refusedWindow    = time.Minute
	refusedPerWindow = 10
)

func (l *refusedLog) add(ctx context.Context, s *Server, e db.Event) {
	l.mu.Lock()
	now := time.Now()
	var summary *db.Event
	if now.After(l.windowEnds) {
		summary = l.closeWindow()
		l.windowEnds = now.Add(refusedWindow)
	}
	record := l.recorded < refusedPerWindow
	if record {
		l.recorded++
	} else {
		l.suppressed++
		l.last = e
	}
	l.mu.Unlock()
	if summary != nil {
		s.record(ctx, *summary)
	}
	if record {
		s.record(ctx, e)
	}
}

// flush writes the summary of a window that has ended (called with the heartbeat).
func (l *refusedLog) flush(ctx context.Context, s *Server) {
	l.mu.Lock()
	var summary *db.Event
	if time.Now().After(l.windowEnds) {
		summary = l.closeWindow()
	}
	l.mu.Unlock()
	if summary != nil {
		s.record(ctx, *summary)
	}
}

func (l *refusedLog) closeWindow() *db.Event {
	defer func() { l.recorded, l.suppressed = 0, 0 }()
	if l.suppressed == 0 {
		return nil
	}
	e := l.last
	e.At = time.Time{}
	e.Summary = fmt.Sprintf("%d more refused requests not recorded one by one (last: %s)", l.suppressed, e.Summary)
	return &e
}

// record writes an event on its own and nudges the console. Used for failures, whose
// transaction (if any) was rolled back.
func (s *Server) record(ctx context.Context, e db.Event) {
	if err := s.db.InsertEvent(context.WithoutCancel(ctx), e); err != nil {
		s.log.Warn("record event", "kind", e.Kind, "err", err)
		return
	}
	s.published()
}
