// Package db is scimdesk's storage: the only package that speaks SQL. It opens one SQLite
// file (pure Go, no cgo) with a single writer connection and a pool of read-only readers,
// applies the embedded migrations, and maps driver errors to ErrNotFound and ErrConflict.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"database/sql/driver"

	"modernc.org/sqlite"
)

// DB is an open scimdesk database.
//
// Writes go through one connection so that SQLite never has to arbitrate between writers
// of this process (they queue in Go instead of spinning on SQLITE_BUSY); reads use a
// separate pool marked query_only, which WAL lets run beside the writer. Authentication
// has a small pool of its own, so that heavy list queries filling the read pool can never
// keep a request from being authenticated or refused.
type DB struct {
	path string // the SQLite file, or the PostgreSQL URL without its password (for display)
	pg   bool   // the database is PostgreSQL: no files of its own, many processes serve it
	opts options
	w    *sql.DB
	r    *sql.DB
	auth *sql.DB
	wc   *stmtCache // prepared statements on the writer
	rc   *stmtCache // prepared statements on the readers
	ac   *stmtCache // prepared statements on the authentication pool

	// lists bounds how many list queries read at once, so that point reads (a user by id,
	// a lookup by userName) always find a free reader however many heavy filters run.
	lists chan struct{}

	rank rankIndex

	codeKey codeKey // HMAC key of setup codes, from the file beside the database

	cp         *sql.DB // the background checkpointer's connection
	cpDone     chan struct{}
	writes     chan *writeReq
	urgent     chan *writeReq // admin writes: served before any queued SCIM write
	intent     *adminIntent
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once

	wstats writerCounts
	queue  waitQueue // writes not yet taken by the writer, for WriterStats

	walDirty   bool      // the writer committed since the WAL was last truncated
	safeLeft   int       // PostgreSQL batches still to run with a savepoint per write (commitBatch)
	walChecked time.Time // when the writer last looked at the WAL's size

	changes   changeHub      // commits of any process, for Changes
	bg        sync.WaitGroup // the change watchers, ended by Close
	authc     authCache
	authLocal atomic.Uint64 // this process's count of auth changes (authcache.go)
	authFile  *os.File      // SQLite: the auth generation file other processes bump
	listen    *pgListener   // PostgreSQL: this process's listening connection
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
// to date. Opening a database that is already up to date writes nothing and takes no
// lock, so that an admin command works while a server next door writes at full speed.
func Open(ctx context.Context, path string, opt ...Option) (*DB, error) {
	if path == "" {
		return nil, errors.New("no database path given")
	}
	o := defaultOptions()
	for _, f := range opt {
		f(&o)
	}
	if IsPostgres(path) {
		return openPostgresDB(ctx, path, o)
	}
	if err := CheckLocation(path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	// A restore swaps the file while it holds the serving lock exclusively. Holding it
	// shared while opening means this process opens the old file before the restore checks
	// who has it open (and the restore refuses) or the restored one after the swap, never
	// the old one in between.
	gate, err := lockServing(path, false, 10*time.Second)
	if errors.Is(err, errLockBusy) {
		return nil, fmt.Errorf("a restore is replacing %s: try again when it is done", path)
	}
	if err != nil {
		return nil, err
	}
	defer gate.Close()
	// Create the file ourselves so that it is 0600 from its first byte; SQLite then gives its
	// -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database file: %w", err)
	}
	f.Close()
	fixModes(path, o.log)

	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	// synchronous FULL: a commit is acknowledged only once the WAL is synced, so an
	// acknowledged write survives a power cut too, not only a killed process. Group commit
	// shares that sync between every write of a batch.
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(" + o.synchronous + ")"
	// The writer never checkpoints inside a commit (wal_autocheckpoint 0): a checkpoint
	// copies pages into the database file and syncs it, which would stall every write
	// queued behind that commit. A background checkpointer does it instead, and the writer
	// truncates the WAL when it is idle or has grown past walLimit.
	w, err := sql.Open("sqlite", base+"?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)&"+
		fmt.Sprintf("_pragma=journal_size_limit(%d)&", o.walLimit)+common)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)

	if err := connectWriter(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	intent, err := openAdminIntent(path)
	if err != nil {
		w.Close()
		return nil, err
	}
	authFile, err := openAuthFile(path)
	if err != nil {
		intent.close()
		w.Close()
		return nil, err
	}
	d := &DB{path: path, opts: o, w: w, wc: newStmtCache(w, false), intent: intent, authFile: authFile,
		writes: make(chan *writeReq), urgent: make(chan *writeReq), closing: make(chan struct{}),
		writerDone: make(chan struct{}), cpDone: make(chan struct{})}
	d.changes.start = d.watchDataVersion
	go d.writer()
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.loadCodeKey(ctx); err != nil {
		d.Close()
		return nil, err
	}

	n := max(4, runtime.GOMAXPROCS(0)*2)
	if d.r, d.rc, err = openReaders(base, common, n); err != nil {
		d.Close()
		return nil, err
	}
	if d.auth, d.ac, err = openReaders(base, common, 2); err != nil {
		d.Close()
		return nil, err
	}
	d.lists = make(chan struct{}, n/2)
	cp, err := sql.Open("sqlite", base+"?"+common)
	if err != nil {
		d.Close()
		return nil, err
	}
	cp.SetMaxOpenConns(1)
	d.cp = cp
	go d.checkpointer()
	if err := d.r.PingContext(ctx); err != nil {
		d.Close()
		return nil, mapErr(err)
	}
	return d, nil
}

// connectWriter opens the writer's connection, which switches a new database to WAL.
// That switch upgrades a shared lock to an exclusive one, and when two processes open the
// same new database at once SQLite answers one of them SQLITE_BUSY at once, without waiting
// (waiting could deadlock). So a busy answer here is retried for as long as SQLite's own
// busy timeout would have waited; by then the other process has made the file WAL and the
// switch is a no-op.
func connectWriter(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := mapErr(w.PingContext(ctx))
		if err == nil || !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("open database: %w", err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
}

// openReaders opens a pool of n read-only connections with its statement cache.
func openReaders(base, common string, n int) (*sql.DB, *stmtCache, error) {
	r, err := sql.Open("sqlite", base+"?_pragma=query_only(1)&"+common)
	if err != nil {
		return nil, nil, err
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)
	return r, newStmtCache(r, false), nil
}

// fixModes makes the database and its -wal and -shm files private again if someone made
// them readable by others (a restored backup, a careless chmod): they hold everything the
// identity provider sent.
func fixModes(path string, log *slog.Logger) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			log.Warn("database file is readable by others and could not be fixed", "file", p, "mode", fi.Mode().Perm().String(), "err", err)
			continue
		}
		log.Warn("database file was readable by others; set it to 0600", "file", p, "was", fi.Mode().Perm().String())
	}
}

// HoldServing marks this process as serving the database until release is called: while
// any process holds it, Restore refuses. A server calls it once it listens and releases it
// when it stops serving.
//
// On PostgreSQL there is no file to restore over, and many instances serve one database:
// holding is a no-op.
func (d *DB) HoldServing() (release func(), err error) {
	if d.pg {
		return func() {}, nil
	}
	f, err := lockServing(d.path, false, 10*time.Second)
	if errors.Is(err, errLockBusy) {
		return nil, fmt.Errorf("a restore is replacing %s: serve it when the restore is done", d.path)
	}
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}

// Path is the file this database was opened from.
func (d *DB) Path() string { return d.path }

// Close closes every pool. Committed writes are already in the WAL file.
func (d *DB) Close() error {
	d.closeOnce.Do(func() { close(d.closing) })
	<-d.writerDone
	d.bg.Wait()
	var errs []error
	if d.cp != nil {
		<-d.cpDone
		d.cp.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		errs = append(errs, d.cp.Close())
	}
	for _, c := range []*stmtCache{d.rc, d.ac, d.wc} {
		if c != nil {
			c.close()
		}
	}
	for _, p := range []*sql.DB{d.r, d.auth, d.w} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	d.intent.close()
	if d.authFile != nil {
		d.authFile.Close()
	}
	return errors.Join(errs...)
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
