package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"time"
)

// Heartbeat is the state a running server writes every few seconds, so that a console,
// in this process or another one, on this host or another, can show it. Every server
// process is an instance with a row of its own: several instances serve one PostgreSQL
// database behind a load balancer.
type Heartbeat struct {
	// Instance is the id the server made when it started (NewInstanceID): the row's key.
	Instance string
	// Host is the name of the machine the instance runs on (ThisHost); "" for a row
	// written without one, which counts as this host's.
	Host          string
	PID           int
	Addr          string
	TLS           bool
	PublicURL     string
	Started       time.Time
	Beat          time.Time
	Requests      int64
	LastRequest   time.Time
	LastUserAgent string
	// Log is where the server logs: a file path, LogStderr or LogJournal; "" if not said.
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

// StaleBeat is how old a heartbeat may be and still count as a serving instance's:
// servers beat every 2 s by default, so a few beats may be late before an instance counts
// as gone.
const StaleBeat = 10 * time.Second

// pruneBeats is how long the row of an instance that stopped beating is kept (one killed,
// or that lost the database): long enough to be looked at, short enough that the table
// stays a handful of rows however often instances restart.
const pruneBeats = 24 * time.Hour

// NewInstanceID makes the id of a server instance, once per server as it starts: random,
// so that instances on several hosts (where pids repeat) and a restarted one never share
// a row.
func NewInstanceID() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// ThisHost is the name of this machine, as heartbeats name the host of an instance.
func ThisHost() string { return thisHost() }

var thisHost = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
})

// onThisHost reports whether h's instance runs on this machine.
func (h Heartbeat) onThisHost() bool { return h.Host == "" || h.Host == thisHost() }

// ThisProcess reports whether h is the heartbeat of a server in this very process.
func (h Heartbeat) ThisProcess() bool { return h.onThisHost() && h.PID == os.Getpid() }

// Fresh reports whether h was written within StaleBeat of now.
func (h Heartbeat) Fresh(now time.Time) bool { return now.Sub(h.Beat) < StaleBeat }

// Gone reports whether the process that wrote h is known to have stopped: it ran on this
// host and no process has its pid any more. A process on another host cannot be asked,
// so it is never known gone.
func (h Heartbeat) Gone() bool { return h.onThisHost() && !processAlive(h.PID) }

// Live reports whether h is the heartbeat of a server in another process that serves
// now: fresh, and not by a process known to have stopped (a server killed a moment ago
// leaves a fresh heartbeat behind). The one rule for "a server serves this database",
// for the console, the admin commands and restore.
func (h Heartbeat) Live(now time.Time) bool {
	return !h.ThisProcess() && h.Fresh(now) && !h.Gone()
}

// Serving returns the first heartbeat of beats that is Live, preferring an instance on
// this host (the one a probe or an admin here can reach); false if none is.
func Serving(beats []Heartbeat, now time.Time) (Heartbeat, bool) {
	var found Heartbeat
	ok := false
	for _, h := range beats {
		if !h.Live(now) {
			continue
		}
		if h.onThisHost() {
			return h, true
		}
		if !ok {
			found, ok = h, true
		}
	}
	return found, ok
}

// WriteHeartbeat writes the heartbeat of the instance h.Instance, replacing its last one,
// and deletes the rows of instances that have not beaten for a day, so that the table
// never holds more than the instances started within a day.
func (d *DB) WriteHeartbeat(ctx context.Context, h Heartbeat) error {
	if h.Instance == "" {
		return errors.New("db: a heartbeat needs its instance id")
	}
	return d.Write(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, `INSERT INTO heartbeats (id, host, pid, addr, public_url, tls, started_at, beat_at,
			requests, last_request_at, last_agent, log, ssh_addr, ssh_host_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, addr = excluded.addr,
			public_url = excluded.public_url, tls = excluded.tls, started_at = excluded.started_at, beat_at = excluded.beat_at,
			requests = excluded.requests, last_request_at = excluded.last_request_at, last_agent = excluded.last_agent,
			log = excluded.log, ssh_addr = excluded.ssh_addr, ssh_host_key = excluded.ssh_host_key`,
			h.Instance, h.Host, h.PID, h.Addr, h.PublicURL, boolInt(h.TLS), ms(h.Started), ms(h.Beat), h.Requests,
			toNullMS(h.LastRequest), h.LastUserAgent, h.Log, h.SSHAddr, h.SSHHostKey)
		if err != nil {
			return mapErr(err)
		}
		// The writer's clock, not h.Beat: a row written with an old beat is pruned too.
		_, err = tx.q.ExecContext(ctx, `DELETE FROM heartbeats WHERE beat_at < ?`, ms(time.Now().Add(-pruneBeats)))
		return mapErr(err)
	})
}

// ClearHeartbeat removes the heartbeat of the instance (on a clean shutdown), so that no
// console shows a stopped server as serving until its beat goes stale.
func (d *DB) ClearHeartbeat(ctx context.Context, instance string) error {
	return d.Write(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, `DELETE FROM heartbeats WHERE id = ?`, instance)
		return mapErr(err)
	})
}

// heartbeatColumns are what readHeartbeats scans, in its order.
const heartbeatColumns = `id, host, pid, addr, public_url, tls, started_at, beat_at, requests, last_request_at, last_agent,
	log, ssh_addr, ssh_host_key`

// ReadHeartbeats returns the heartbeats of every instance that beat within StaleBeat (by
// this process's clock), the longest running first; none when no server serves. A
// heartbeat of this process's own server is among them: ThisProcess and Live tell.
func (d *DB) ReadHeartbeats(ctx context.Context) ([]Heartbeat, error) {
	return readHeartbeats(ctx, d.rc, time.Now())
}

// queryer is a reader of either kind: the read pool's statement cache or a bare
// connection (ReadHeartbeatFile).
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readHeartbeats(ctx context.Context, q queryer, now time.Time) ([]Heartbeat, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+heartbeatColumns+` FROM heartbeats WHERE beat_at > ?
		ORDER BY started_at, id`, ms(now.Add(-StaleBeat)))
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var beats []Heartbeat
	for rows.Next() {
		var h Heartbeat
		var tls int
		var started, beat int64
		var last sql.NullInt64
		if err := rows.Scan(&h.Instance, &h.Host, &h.PID, &h.Addr, &h.PublicURL, &tls, &started, &beat, &h.Requests, &last,
			&h.LastUserAgent, &h.Log, &h.SSHAddr, &h.SSHHostKey); err != nil {
			return nil, mapErr(err)
		}
		h.TLS, h.Started, h.Beat, h.LastRequest = tls != 0, fromMS(started), fromMS(beat), nullMS(last)
		beats = append(beats, h)
	}
	return beats, mapErr(rows.Err())
}

// boolInt stores a flag as 0 or 1: an INTEGER column on every engine.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
