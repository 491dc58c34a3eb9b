package db

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound means the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict means a write would break a uniqueness rule (userName, group displayName).
var ErrConflict = errors.New("conflict")

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
	if errors.As(err, &pe) {
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
