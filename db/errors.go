package db

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound means the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict means a write would break a uniqueness rule (userName, group displayName).
var ErrConflict = errors.New("conflict")

// ErrUnavailable means the database server cannot be reached or refuses connections now
// (PostgreSQL down, restarting, failing over, or out of connections). Nothing was changed;
// the request is worth retrying shortly.
var ErrUnavailable = errors.New("the database cannot be reached")

// ErrBusy means the database stayed locked by another process for longer than the busy
// timeout. It is worth retrying, and worth telling the admin about.
var ErrBusy = errors.New("database is locked by another process")

// mapErr turns driver errors into the package's sentinel errors once, here, so that no
// other package needs to know SQLite's error codes.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) || errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		// The connection failed or could not be made: PostgreSQL is down, restarting or
		// failing over, or the network between is. (SQLite has no connection to lose.)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shut down, crashed, not accepting connections yet
			pe.Code == "53300": // too many connections
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %s", ErrConflict, pe.ConstraintName)
		case "40001", "40P01", "55P03": // serialization_failure, deadlock_detected, lock_not_available
			return fmt.Errorf("%w: %v", ErrBusy, err)
		}
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT:
			if se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
				return fmt.Errorf("%w: %s", ErrConflict, constraintName(se.Error()))
			}
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %v", ErrBusy, err)
		}
	}
	return err
}

func constraintName(msg string) string {
	if i := strings.Index(msg, "constraint failed: "); i >= 0 {
		return msg[i+len("constraint failed: "):]
	}
	return msg
}

// ErrWriteBudget means a write used more than its budget of writer time and was rolled
// back alone; every other write of its batch was committed.
var ErrWriteBudget = errors.New("the write took longer than its budget of database time")

// ErrReadBudget means a query read for longer than its budget and was stopped.
var ErrReadBudget = errors.New("the query took longer than its budget of database time")

// ErrNewerSchema means the database was written by a newer scimdesk than this one.
var ErrNewerSchema = errors.New("the database was written by a newer version of scimdesk")
