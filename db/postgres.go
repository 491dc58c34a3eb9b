package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// IsPostgres reports whether a --db value names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a SQLite file.
func IsPostgres(location string) bool {
	l := strings.ToLower(location)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// libpqKeywords begins a libpq key=value connection string ("host=db user=scim ..."),
// which is not a file name either.
var libpqKeywords = regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|sslmode|service)\s*=`)

// CheckLocation refuses a --db value that is neither a postgres:// URL nor plausibly a
// file: a mistyped scheme (postgress://, pg://) or a libpq key=value string would
// otherwise become a new SQLite file named after it, and every command would report
// success on that. The error never repeats the value (it may hold a password).
func CheckLocation(location string) error {
	if IsPostgres(location) {
		return nil
	}
	if scheme, _, ok := strings.Cut(location, "://"); ok && !strings.ContainsAny(scheme, "/\\") {
		return fmt.Errorf("--db: %q is not a database scheme scimdesk knows: give a file path or a postgres:// URL", scheme+"://")
	}
	if libpqKeywords.MatchString(location) {
		return errors.New("--db: give PostgreSQL as a URL (postgres://user@host/dbname?sslmode=verify-full), not as key=value pairs")
	}
	if strings.HasPrefix(strings.ToLower(location), "postgres:") || strings.HasPrefix(strings.ToLower(location), "postgresql:") {
		return errors.New("--db: a PostgreSQL URL begins postgres:// (postgres://user@host/dbname)")
	}
	return nil
}

// Postgres reports whether d is a PostgreSQL database. Only what is about files needs to
// know (backups of a file, the log beside it); everything else works the same on both.
func (d *DB) Postgres() bool { return d.pg }

// Redact is a database location fit to show and log: a PostgreSQL URL without its
// password (a SQLite path is returned as it is).
func Redact(location string) string {
	if !IsPostgres(location) {
		return location
	}
	u, err := url.Parse(location)
	if err != nil {
		return "postgres://(unreadable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// LocalPath is the path this process names its own files after: the log, the ACME
// certificate cache, the SSH host key and scheduled backups sit beside it. It is the
// SQLite file itself; a PostgreSQL database has no file here, so it is a name in the
// default data directory made of the server's host and the database's name
// (…/scimdesk/pg-db.internal-scimdesk), one per database this machine serves.
func (d *DB) LocalPath() string {
	if !d.pg {
		return d.path
	}
	dir := "."
	if p, err := DefaultPath(); err == nil {
		dir = filepath.Dir(p)
	}
	name := "pg"
	if u, err := url.Parse(d.path); err == nil {
		host := u.Hostname()
		if host == "" {
			host = "local"
		}
		name += "-" + host + "-" + strings.TrimPrefix(u.Path, "/")
	}
	clean := strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, name)
	return filepath.Join(dir, clean)
}

// OnlyExisting makes Open refuse a PostgreSQL database that has no scimdesk schema yet
// instead of creating it: admin commands use it, so that a mistyped URL is an error
// rather than a new empty database on which `token revoke` reports success.
func OnlyExisting() Option { return func(o *options) { o.onlyExisting = true } }

// pgConnectTimeout bounds how long Open waits for an unreachable PostgreSQL server.
const pgConnectTimeout = 10 * time.Second

// openPostgresDB opens a scimdesk database on PostgreSQL: the same writer (one connection
// per process, its transactions serialized with every other instance's by an advisory
// lock), reader and authentication pools as on SQLite, and the same migrations in
// PostgreSQL's dialect.
func openPostgresDB(ctx context.Context, dsn string, o options) (*DB, error) {
	shown := Redact(dsn)
	w, err := openPostgres(dsn, 1, false)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, pgConnectTimeout)
	err = w.PingContext(pctx)
	cancel()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", mapErr(err))
	}
	if o.onlyExisting {
		applied, err := appliedMigrations(ctx, w, true)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("read %s: %w", shown, mapErr(err))
		}
		if len(applied) == 0 {
			w.Close()
			return nil, fmt.Errorf("%w: it has no scimdesk tables yet (`scimdesk serve` or the console creates them on first run)", ErrNotDatabase)
		}
	}
	d := &DB{path: shown, pg: true, opts: o, w: w, wc: newStmtCache(w, true),
		writes: make(chan *writeReq), urgent: make(chan *writeReq), closing: make(chan struct{}),
		writerDone: make(chan struct{})}
	go d.writer()
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.loadPostgresCodeKey(ctx); err != nil {
		d.Close()
		return nil, err
	}
	d.listen = startListener(d, dsn)
	// Where this process keeps its own files for the database (LocalPath): made here, as
	// a SQLite database's directory is made by Open.
	if err := os.MkdirAll(filepath.Dir(d.LocalPath()), 0o700); err != nil {
		o.log.Warn("cannot create the directory for this process's files", "dir", filepath.Dir(d.LocalPath()), "err", err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	if d.r, err = openPostgres(dsn, n, true); err != nil {
		d.Close()
		return nil, err
	}
	d.rc = newStmtCache(d.r, true)
	if d.auth, err = openPostgres(dsn, 2, true); err != nil {
		d.Close()
		return nil, err
	}
	d.ac = newStmtCache(d.auth, true)
	d.lists = make(chan struct{}, n/2)
	if err := d.r.PingContext(ctx); err != nil {
		d.Close()
		return nil, mapErr(err)
	}
	return d, nil
}

// snapshot is how a read that needs several statements to agree begins its transaction:
// SQLite's read transactions are snapshots already; PostgreSQL's are with REPEATABLE READ.
func (d *DB) snapshot() *sql.TxOptions {
	if d.pg {
		return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	return nil
}

// loadPostgresCodeKey reads the setup codes' HMAC key from its row, the first instance
// creating it.
func (d *DB) loadPostgresCodeKey(ctx context.Context) error {
	var secret []byte
	err := d.w.QueryRowContext(ctx, `SELECT secret FROM code_key WHERE id = 1`).Scan(&secret)
	if err == nil && len(secret) == codeKeyBytes {
		d.codeKey.secret = secret
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read the code key: %w", mapErr(err))
	}
	fresh := make([]byte, codeKeyBytes)
	rand.Read(fresh)
	err = d.writeAdmin(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO code_key (id, secret) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, fresh); err != nil {
			return err
		}
		return tx.tx.QueryRowContext(ctx, `SELECT secret FROM code_key WHERE id = 1`).Scan(&secret)
	})
	if err != nil {
		return fmt.Errorf("create the code key: %w", mapErr(err))
	}
	if len(secret) != codeKeyBytes {
		return fmt.Errorf("the code key in the database has %d bytes, not %d", len(secret), codeKeyBytes)
	}
	d.codeKey.secret = secret
	return nil
}
