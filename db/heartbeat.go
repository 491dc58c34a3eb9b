package db

import (
	"context"
	"database/sql"
	"os"
	"time"
)

// Heartbeat is the state a running server writes every few seconds, so that a console,
// in this process or another one, can show it.
type Heartbeat struct {
	PID           int
	Addr          string
	TLS           bool
	PublicURL     string
	Started       time.Time
	Beat          time.Time
	Requests      int64
	LastRequest   time.Time
	LastUserAgent string
	// Log is where the server logs: a file path, LogStderr or LogJournal; "" if a server
	// of an earlier version wrote the heartbeat.
	Log string
	// SSHAddr and SSHHostKey are the server's SSH console (its address and host key
	// fingerprint); "" without one.
	SSHAddr, SSHHostKey string
}

// Where a server logs when not to a file.
const (
	// LogStderr is a server logging to its standard error (a container, a terminal).
	LogStderr = "stderr"
	// LogJournal is a server logging to its standard error, which systemd's journal keeps.
	LogJournal = "journal"
)

// Live reports whether h is the heartbeat of a server in another process that serves
// now: written within staleBeat, by a process that still runs on this host (a server
// killed a moment ago leaves a fresh heartbeat behind). The one rule for "a server serves
// this database", for the console, the admin commands and restore.
func (h Heartbeat) Live(now time.Time) bool {
	return h.PID != os.Getpid() && now.Sub(h.Beat) < staleBeat && processAlive(h.PID)
}

// WriteHeartbeat replaces the heartbeat.
func (d *DB) WriteHeartbeat(ctx context.Context, h Heartbeat) error {
	return d.Write(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, `INSERT INTO heartbeat (id, pid, addr, tls, public_url, started_at, beat_at,
			requests, last_request_at, last_agent, log, ssh_addr, ssh_host_key) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, addr = excluded.addr, tls = excluded.tls,
			public_url = excluded.public_url, started_at = excluded.started_at, beat_at = excluded.beat_at,
			requests = excluded.requests, last_request_at = excluded.last_request_at, last_agent = excluded.last_agent,
			log = excluded.log, ssh_addr = excluded.ssh_addr, ssh_host_key = excluded.ssh_host_key`,
			h.PID, h.Addr, h.TLS, h.PublicURL, ms(h.Started), ms(h.Beat), h.Requests, toNullMS(h.LastRequest), h.LastUserAgent, h.Log,
			h.SSHAddr, h.SSHHostKey)
		return mapErr(err)
	})
}

// ClearHeartbeat removes the heartbeat of the server with pid (on a clean shutdown), so
// that no console mistakes a stopped server for a running one.
func (d *DB) ClearHeartbeat(ctx context.Context, pid int) error {
	return d.Write(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, `DELETE FROM heartbeat WHERE pid = ?`, pid)
		return mapErr(err)
	})
}

// ReadHeartbeat reads the last heartbeat; ErrNotFound if no server has written one.
func (d *DB) ReadHeartbeat(ctx context.Context) (Heartbeat, error) {
	var h Heartbeat
	var started, beat int64
	var last sql.NullInt64
	err := d.rc.QueryRowContext(ctx, `SELECT pid, addr, tls, public_url, started_at, beat_at, requests, last_request_at, last_agent, log,
		ssh_addr, ssh_host_key FROM heartbeat WHERE id = 1`).Scan(&h.PID, &h.Addr, &h.TLS, &h.PublicURL, &started, &beat, &h.Requests, &last,
		&h.LastUserAgent, &h.Log, &h.SSHAddr, &h.SSHHostKey)
	h.Started, h.Beat, h.LastRequest = fromMS(started), fromMS(beat), nullMS(last)
	return h, mapErr(err)
}
