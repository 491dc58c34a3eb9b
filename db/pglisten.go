package db

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL's change signals (see changes.go and authcache.go). Every process on a
// PostgreSQL database holds one listening connection, named listenerAppName so that a
// writer can tell, from pg_stat_activity, which instances must acknowledge an auth change.
const (
	listenerAppName = "scimdesk-listen"
	chanChange      = "scimdesk_change" // any write committed
	chanAuth        = "scimdesk_auth"   // a write that changed authentication; payload: its nonce
	chanAuthAck     = "scimdesk_ack"    // an instance dropped its auth cache; payload: the nonce
)

// authAckWait bounds how long a write that changed authentication waits for every
// instance to drop its cache. An instance that does not answer in time (hung, or cut off
// from the database) serves from its cache for at most authCacheTTL more.
const authAckWait = 3 * time.Second

// pgListener is a process's listening connection, kept open (reconnecting after a
// failure) until the database is closed.
type pgListener struct {
	d       *DB
	dsn     string
	healthy atomic.Bool   // listening now: auth changes of other instances reach this process
	pid     atomic.Uint32 // the listening connection's backend pid (0: not connected)

	mu   sync.Mutex
	acks map[string]map[uint32]bool // nonce -> backend pids that acknowledged it
	seen chan struct{}              // closed and replaced whenever an ack arrives
}

func startListener(d *DB, dsn string) *pgListener {
	l := &pgListener{d: d, dsn: dsn, acks: map[string]map[uint32]bool{}, seen: make(chan struct{})}
	d.bg.Add(1)
	go l.run()
	return l
}

func (l *pgListener) run() {
	defer l.d.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.d.closing
		cancel()
	}()
	const firstBackoff = 50 * time.Millisecond
	backoff, lost := firstBackoff, false
	for ctx.Err() == nil {
		err := l.listen(ctx, lost)
		if l.healthy.Swap(false) {
			backoff = firstBackoff // it had listened: the next failure starts afresh
		}
		lost = true
		if ctx.Err() != nil {
			return
		}
		l.d.opts.log.Warn("PostgreSQL change listener lost; authentication reads the database until it is back", "err", err)
		// A console reads again now, and finds out whether the database is out of reach,
		// instead of showing the last state it read until its next tick.
		l.d.changes.Publish()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// listen connects, listens, and handles notifications until the connection fails. again
// says an earlier connection failed: its coming back is logged, as its loss was.
func (l *pgListener) listen(ctx context.Context, again bool) error {
	cfg, err := parsePostgres(l.dsn)
	if err != nil {
		return err
	}
	// Named a listener only once it listens (below): a connection that is not listening yet
	// cannot hear a change, and must not be waited for.
	cfg.RuntimeParams["application_name"] = listenerAppName + "-starting"
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > pgConnectTimeout {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{chanChange, chanAuth, chanAuthAck} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, "SET application_name = '"+listenerAppName+"'"); err != nil {
		return err
	}
	l.pid.Store(conn.PgConn().PID())
	defer l.pid.Store(0)
	// Whatever changed while this process was not listening is unknown: start afresh.
	l.d.authLocal.Add(1)
	l.healthy.Store(true)
	l.d.changes.Publish()
	if again {
		l.d.opts.log.Info("PostgreSQL change listener back; authentication is cached again")
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case chanChange:
			l.d.changes.Publish()
		case chanAuth:
			l.d.authLocal.Add(1)
			l.d.changes.Publish()
			if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", chanAuthAck, n.Payload); err != nil {
				return err
			}
		case chanAuthAck:
			l.noteAck(n.Payload, n.PID)
		}
	}
}

func (l *pgListener) noteAck(nonce string, pid uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.acks) > 1024 { // acks of writes nobody waits for any more
		clear(l.acks)
	}
	if l.acks[nonce] == nil {
		l.acks[nonce] = map[uint32]bool{}
	}
	l.acks[nonce][pid] = true
	close(l.seen)
	l.seen = make(chan struct{})
}

// newAuthNonce names one auth change's notification.
func newAuthNonce() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// awaitAuthAcks waits until every other process that was listening on the database when
// the change notified as nonce committed has dropped its auth cache. Not waited for:
// this process (its writer dropped its own cache), a connection not listening yet, one that
// connected after the commit (it starts with an empty cache), and one whose process has
// ended meanwhile (it leaves pg_stat_activity, which is asked again while waiting).
func (d *DB) awaitAuthAcks(ctx context.Context, nonce string, committed time.Time) {
	l := d.listen
	if l == nil {
		return
	}
	defer func() {
		l.mu.Lock()
		delete(l.acks, nonce)
		l.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, authAckWait)
	defer cancel()
	listeners := func() (map[uint32]bool, error) {
		// A connection named a listener listens (it takes the name after LISTEN); one that
		// connected after the commit started with an empty cache. Left: one that connected
		// before and began listening in the instant between the commit and this query; it
		// cannot confirm, and is waited for until authAckWait.
		rows, err := d.rc.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
			AND application_name = ? AND backend_start < ?`, listenerAppName, committed)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[uint32]bool{}
		for rows.Next() {
			var pid int64
			if rows.Scan(&pid) == nil && uint32(pid) != l.pid.Load() {
				out[uint32(pid)] = true
			}
		}
		return out, rows.Err()
	}
	want, err := listeners()
	if err != nil {
		d.opts.log.Warn("cannot tell which instances must drop their authentication cache; they will within their cache lifetime", "err", err, "within", authCacheTTL)
		return
	}
	recheck := time.NewTicker(100 * time.Millisecond)
	defer recheck.Stop()
	for {
		l.mu.Lock()
		missing := 0
		for pid := range want {
			if !l.acks[nonce][pid] {
				missing++
			}
		}
		seen := l.seen
		l.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-seen:
		case <-recheck.C:
			// A listener whose process has ended leaves; it has no cache left to drop.
			if now, err := listeners(); err == nil {
				for pid := range want {
					if !now[pid] {
						delete(want, pid)
					}
				}
			}
		case <-ctx.Done():
			d.opts.log.Warn("instances did not confirm an authentication change in time; they apply it within their cache lifetime",
				slog.Int("unconfirmed", missing), slog.Duration("within", authCacheTTL))
			return
		}
	}
}
