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
	w, err := sql.Open("sqlite", base+"?_txlock=immediate&_pragma=journal_mode(WAL)&"+common)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)

	d := &DB{path: path, w: w, wc: newStmtCache(w)}
	if err := d.migrate(ctx); err != nil {
		w.Close()
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
	var errs []error
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

// Now is the time stamped on everything the transaction writes.
func (tx *Tx) Now() time.Time { return tx.now }

// Write runs fn in one write transaction: everything fn does is committed together, or,
// if fn returns an error, nothing is.
func (d *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	var missing []string
	defer func() {
		sqlTx.Rollback() // no-op after Commit
		for _, q := range missing {
			d.wc.stmt(ctx, q) // the connection is free again: prepare for next time
		}
	}()
	tx := &Tx{tx: sqlTx, q: txStmts{tx: sqlTx, cache: d.wc, missing: &missing}, now: time.Now().UTC().Truncate(time.Millisecond)}
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(sqlTx.Commit())
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
