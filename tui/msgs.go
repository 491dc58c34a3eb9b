package tui

import (
	"time"

	"scimdesk/db"
)

// Messages. Results of I/O carry their error rather than a separate error message, so the
// tab that asked can drop its "loading" state either way.

// tickMsg is the once-a-second poll of the database (events, heartbeat, SCIM switch).
type tickMsg time.Time

// notifyMsg says the in-process server recorded an event: poll now rather than at the tick.
type notifyMsg struct{}

// pollMsg is one look at what changed: new events (oldest first), the servers' heartbeats
// and the SCIM switch. Initial marks the first poll, whose events are the recent history.
type pollMsg struct {
	Initial    bool
	Events     []db.Event
	More       bool           // the poll stopped at its limit: poll again at once
	Heartbeats []db.Heartbeat // of the servers that beat now (db.DB.ReadHeartbeats)
	SCIMOn     bool
	OIDC       db.OIDCConfig // the identity provider pending users sign in with, if set
	Err        error
}

// level is how a status line reads: information, success or an error.
type level int

const (
	levelInfo level = iota
	levelOK
	levelErr
)

// statusMsg puts a line in the status bar.
type statusMsg struct {
	Level level
	Text  string
}

// statusExpiredMsg clears the status line if it is still the one numbered Seq.
type statusExpiredMsg struct{ Seq int }

// tabLeftMsg tells a tab that the admin switched away from it (the token secret is
// dropped for good then).
type tabLeftMsg struct{}

// tabShownMsg tells a tab that the admin switched to it.
type tabShownMsg struct{}

// scimSetMsg is the result of switching SCIM on or off.
type scimSetMsg struct {
	On  bool
	Err error
}

// tokensMsg is the token list.
type tokensMsg struct {
	Tokens []db.Token
	Err    error
}

// tokenCreatedMsg carries a new token and its secret, which exists nowhere else.
type tokenCreatedMsg struct {
	Token  db.Token
	Secret string
	Err    error
}

// tokenRevokedMsg is the result of a revocation.
type tokenRevokedMsg struct {
	ID  string
	Err error
}

// tokenRotatedMsg carries the result of a rotation and the new token's secret, which
// exists nowhere else.
type tokenRotatedMsg struct {
	Rotation db.Rotation
	Secret   string
	Err      error
}

// setupCodeMsg carries a new setup code, which exists nowhere else.
type setupCodeMsg struct {
	Code   db.SetupCode
	Secret string // formatted XXXXX-XXXXX
	Err    error
}

// debounceMsg fires a while after the last key typed into a filter; Seq tells whether
// another key came since.
type debounceMsg struct {
	Owner string
	Seq   int
}

// olderEventsMsg is a page of the audit log older than what the Activity tab holds.
type olderEventsMsg struct {
	Events []db.Event // newest first
	Err    error
}
