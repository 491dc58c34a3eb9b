package db

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Event outcomes.
const (
	OutcomeOK   = "ok"
	OutcomeFail = "fail"
)

// Event is one line of the audit log: every SCIM mutation (successful or not), every
// refused authentication (throttled) and every admin action.
type Event struct {
	ID      int64
	At      time.Time
	Kind    string // e.g. user.create, group.patch, auth.refused, token.revoke
	TokenID string
	Addr    string
	Agent   string // the client's User-Agent, or the admin's name for admin actions
	Subject string // the user or group concerned, as the admin knows it
	Outcome string // OutcomeOK or OutcomeFail
	Status  int    // the HTTP status answered, for SCIM requests
	Summary string
}

// Failed reports whether the event records a failure.
func (e Event) Failed() bool { return e.Outcome != OutcomeOK }

// InsertEvent records an event as part of the transaction, so the audit log says exactly
// what was committed. The writer inserts the events of all the writes of a batch that
// succeeded in one statement before the commit (eventsPerInsert rows at a time): one
// statement less per write, which on PostgreSQL is a round trip less while the
// instances' write lock is held; an event of a write that failed is never inserted.
func (tx *Tx) InsertEvent(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = tx.now
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeOK
	}
	tx.events = append(tx.events, e)
	return nil
}

// eventsPerInsert bounds one INSERT of a batch's events: 9 parameters a row stays far
// below SQLite's and PostgreSQL's limits on parameters.
const eventsPerInsert = 100

// insertEvents writes events, oldest first, in as few statements as eventsPerInsert allows.
func insertEvents(ctx context.Context, tx *sql.Tx, events []Event) error {
	for len(events) > 0 {
		n := min(len(events), eventsPerInsert)
		var b strings.Builder
		b.WriteString(`INSERT INTO events (at, kind, token_id, addr, agent, subject, outcome, status, summary) VALUES `)
		args := make([]any, 0, n*9)
		for i, e := range events[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, ms(e.At), e.Kind, e.TokenID, e.Addr, e.Agent, e.Subject, e.Outcome, e.Status, e.Summary)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return mapErr(err)
		}
		events = events[n:]
	}
	return nil
}

// InsertEvent records an event on its own (for failures, whose transaction was rolled back).
func (d *DB) InsertEvent(ctx context.Context, e Event) error {
	return d.Write(ctx, func(tx *Tx) error { return tx.InsertEvent(ctx, e) })
}

const eventCols = `id, at, kind, token_id, addr, agent, subject, outcome, status, summary`

func (d *DB) queryEvents(ctx context.Context, query string, args ...any) ([]Event, error) {
	rows, err := d.rc.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.TokenID, &e.Addr, &e.Agent, &e.Subject, &e.Outcome, &e.Status, &e.Summary); err != nil {
			return nil, mapErr(err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}

// EventsAfter returns up to limit events newer than id, oldest first: the console's tail.
func (d *DB) EventsAfter(ctx context.Context, id int64, limit int) ([]Event, error) {
	return d.queryEvents(ctx, `SELECT `+eventCols+` FROM events WHERE id > ? ORDER BY id LIMIT ?`, id, limit)
}

// EventsBefore returns up to limit events older than id (all, if id is 0), newest first.
func (d *DB) EventsBefore(ctx context.Context, id int64, limit int) ([]Event, error) {
	if id <= 0 {
		return d.queryEvents(ctx, `SELECT `+eventCols+` FROM events ORDER BY id DESC LIMIT ?`, limit)
	}
	return d.queryEvents(ctx, `SELECT `+eventCols+` FROM events WHERE id < ? ORDER BY id DESC LIMIT ?`, id, limit)
}
