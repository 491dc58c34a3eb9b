package scimserver

import (
	"context"
	"sync"
	"time"

	"scimdesk/db"
)

// tokenWarnEvery is how often a token that expires soon is named in the log again.
const tokenWarnEvery = 24 * time.Hour

// tokenCheckEvery is how often the heartbeat reads the tokens to look for ones that
// expire soon: a few rows, but there is no need to read them every beat.
const tokenCheckEvery = time.Minute

// tokenWarner logs a warning for each token that expires within db.ExpiringSoon, at most
// once per tokenWarnEvery per token, so that whoever reads the server's log (journald, a
// log shipper) learns of it before the identity provider gets 401s. The memory of what
// was logged is this process's: a restart may log a token again.
type tokenWarner struct {
	mu        sync.Mutex
	lastCheck time.Time
	warned    map[string]time.Time // token id -> when it was last logged
}

// check reads the tokens, if it is time to, and logs those expiring soon.
func (w *tokenWarner) check(ctx context.Context, s *Server, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.lastCheck.IsZero() && now.Sub(w.lastCheck) < tokenCheckEvery {
		return
	}
	w.lastCheck = now
	tokens, err := s.db.Tokens(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("read tokens for expiry warnings", "err", err)
		}
		return
	}
	if w.warned == nil {
		w.warned = map[string]time.Time{}
	}
	expiring := db.ExpiringTokens(tokens, now)
	live := make(map[string]bool, len(expiring))
	for _, t := range expiring {
		live[t.ID] = true
		if last, ok := w.warned[t.ID]; ok && now.Sub(last) < tokenWarnEvery {
			continue
		}
		w.warned[t.ID] = now
		s.log.Warn("SCIM token expires soon; rotate it (scimdesk token rotate) and paste the new secret into the identity provider",
			"token", t.ID, "description", truncate(t.Description, 100), "expires", t.Expires.UTC().Format(time.RFC3339),
			"days_left", t.DaysLeft(now))
	}
	for id := range w.warned {
		if !live[id] {
			delete(w.warned, id) // rotated, revoked or expired: forget it
		}
	}
}
