package db

import (
	"context"
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

func insertEvent(ctx context.Context, q querier, now time.Time, e Event) error {
	if e.At.IsZero() {
		e.At = now
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeOK
	}
	_, err := q.ExecContext(ctx, `INSERT INTO events (at, kind, token_id, addr, agent, subject, outcome, status, summary)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ms(e.At), e.Kind, e.TokenID, e.Addr, e.Agent, e.Subject, e.Outcome, e.Status, e.Summary)
	return mapErr(err)
}

// InsertEvent records an event as part of the transaction, so the audit log says exactly
// what was committed.
func (tx *Tx) InsertEvent(ctx context.Context, e Event) error {
	return insertEvent(ctx, tx.q, tx.now, e)
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
