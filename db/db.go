// Package db is scimdesk's storage: the only package that speaks SQL. It opens one SQLite
// file (pure Go, no cgo) with a single writer connection and a pool of read-only readers,
// applies the embedded migrations, and maps driver errors to ErrNotFound and ErrConflict.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"database/sql/driver"

	"modernc.org/sqlite"
)

// DB is an open scimdesk database.
//
// Writes go through one connection so that SQLite never has to arbitrate between writers
// of this process (they queue in Go instead of spinning on SQLITE_BUSY); reads use a
// separate pool marked query_only, which WAL lets run beside the writer.
type DB struct {
	path string
	w    *sql.DB
	r    *sql.DB
	wc   *stmtCache // prepared statements on the writer
	rc   *stmtCache // prepared statements on the readers

	rank rankIndex

	codeKey codeKey // HMAC key of setup codes, from the file beside the database

	cp         *sql.DB // the background checkpointer's connection
	cpDone     chan struct{}
	writes     chan *writeReq
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
}

func init() {
	// golower is Go's full Unicode lowering, so that case-insensitive comparisons in SQL
	// agree with the normalised columns that Go writes (SQLite's lower() is ASCII only).
	sqlite.MustRegisterDeterministicScalarFunction("golower", 1, func(ctx *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return Fold(v), nil
		case []byte:
			return Fold(string(v)), nil
		default:
			return v, nil
		}
	})
}

// Fold normalises a case-insensitive value (userName, displayName, emails) the one way the
// whole program does it: Unicode lower case.
func Fold(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ToLower(s)
}

// DefaultPath is where the database lives when neither --db nor SCIMDESK_DB says otherwise:
// under the user's data directory ($XDG_DATA_HOME, else ~/.local/share).
func DefaultPath() (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot find a home directory for the default database (use --db): %w", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "scimdesk", "scimdesk.db"), nil
}

// Open opens (creating if needed, mode 0600) the database at path and brings its schema up
// to date.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("no database path given")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	// Create the file ourselves so that it is 0600 from its first byte; SQLite then gives its
	// -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database file: %w", err)
	}
	f.Close()

	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	// The writer never checkpoints inside a commit (wal_autocheckpoint 0): a checkpoint
	// copies pages into the database file and syncs it, which would stall every write
	// queued behind that commit. A background checkpointer does it instead.
	w, err := sql.Open("sqlite", base+"?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)&"+common)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)

	d := &DB{path: path, w: w, wc: newStmtCache(w),
		writes: make(chan *writeReq), closing: make(chan struct{}), writerDone: make(chan struct{}), cpDone: make(chan struct{})}
	go d.writer()
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.loadCodeKey(ctx); err != nil {
		d.Close()
		return nil, err
	}

	r, err := sql.Open("sqlite", base+"?_pragma=query_only(1)&"+common)
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(2, runtime.GOMAXPROCS(0)*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)
	d.r, d.rc = r, newStmtCache(r)
	cp, err := sql.Open("sqlite", base+"?"+common)
	if err != nil {
		d.Close()
		return nil, err
	}
	cp.SetMaxOpenConns(1)
	d.cp = cp
	go d.checkpointer()
	if err := r.PingContext(ctx); err != nil {
		d.Close()
		return nil, mapErr(err)
	}
	return d, nil
}

// Path is the file this database was opened from.
func (d *DB) Path() string { return d.path }

// Close closes both pools. Committed writes are already in the WAL file.
func (d *DB) Close() error {
	d.closeOnce.Do(func() { close(d.closing) })
	<-d.writerDone
	var errs []error
	if d.cp != nil {
		<-d.cpDone
		d.cp.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		errs = append(errs, d.cp.Close())
	}
	if d.rc != nil {
		d.rc.close()
	}
	d.wc.close()
	if d.r != nil {
		errs = append(errs, d.r.Close())
	}
	if d.w != nil {
		errs = append(errs, d.w.Close())
	}
	return errors.Join(errs...)
}

// Tx is a write transaction. It holds the single writer connection, so keep it short.
type Tx struct {
	tx  *sql.Tx
	q   querier // tx through the writer's statement cache
	now time.Time
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("database is closed")

// maxBatch bounds how many writes share one commit.
const maxBatch = 64

type writeReq struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error
}

// Write runs fn in one write transaction: everything fn does is committed together, or,
// if fn returns an error, nothing is. Write returns once the change is committed.
//
// Writes from concurrent callers are committed in groups (group commit): one goroutine
// owns the writer connection, runs each waiting fn inside its own savepoint of a shared
// transaction, and commits once for all of them. A commit costs far more than a small
// change, so this multiplies write throughput under load while keeping each fn atomic:
// an fn that fails is rolled back to its savepoint and the others are unaffected.
func (d *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case d.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.closing:
		return ErrClosed
	}
	return <-req.done
}

// writer owns the writer connection until Close.
func (d *DB) writer() {
	defer close(d.writerDone)
	for {
		var first *writeReq
		select {
		case first = <-d.writes:
		case <-d.closing:
			return
		}
		batch := []*writeReq{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-d.writes:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		d.commitBatch(batch)
	}
}

func (d *DB) commitBatch(batch []*writeReq) {
	results := make([]error, len(batch))
	finish := func() {
		for i, r := range batch {
			r.done <- results[i]
		}
	}
	ctx := context.Background()
	sqlTx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		for i := range results {
			results[i] = mapErr(err)
		}
		finish()
		return
	}
	var missing []string
	q := txStmts{tx: sqlTx, cache: d.wc, missing: &missing}
	broken := error(nil)
	for i, r := range batch {
		if broken != nil {
			results[i] = broken
			continue
		}
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			broken = mapErr(err)
			results[i] = broken
			continue
		}
		tx := &Tx{tx: sqlTx, q: q, now: time.Now().UTC().Truncate(time.Millisecond)}
		if err := runFn(r.fn, tx); err != nil {
			results[i] = err
			if _, rerr := sqlTx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
				broken = mapErr(rerr) // the transaction's state is unknown: fail the rest
			}
		}
		if _, err := sqlTx.ExecContext(ctx, "RELEASE w"); err != nil && broken == nil {
			broken = mapErr(err)
		}
	}
	if broken != nil {
		sqlTx.Rollback()
		for i := range results {
			if results[i] == nil {
				results[i] = broken
			}
		}
	} else if err := sqlTx.Commit(); err != nil {
		for i := range results {
			if results[i] == nil {
				results[i] = mapErr(err)
			}
		}
	}
	finish()
	for _, q := range missing {
		d.wc.stmt(ctx, q) // the connection is free again: prepare for next time
	}
}

// runFn runs one write, turning a panic into an error: the writer goroutine serves every
// caller and must survive a bug in one of them.
func runFn(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic in database write: %v", v)
		}
	}()
	return fn(tx)
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

func toNullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(t), Valid: true}
}

func nullStr(s string) sql.NullString {
	if s == "" {
		return sql.NullString{}
	}
	return sql.NullString{String: s, Valid: true}
}

// checkpointer copies the WAL back into the database file in the background (PASSIVE: it
// never blocks readers or the writer), so that the WAL stays small without any commit
// paying for it.
func (d *DB) checkpointer() {
	defer close(d.cpDone)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-d.closing:
			return
		case <-tick.C:
			d.cp.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}
