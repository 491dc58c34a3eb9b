package db

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// Counts for monitoring. They read from the reader pool, never the writer, so a metrics
// scrape cannot delay a write.

// CountGroups is the number of groups.
func (d *DB) CountGroups(ctx context.Context) (int, error) {
	var n int
	err := d.rc.QueryRowContext(ctx, `SELECT count(*) FROM groups`).Scan(&n)
	return n, mapErr(err)
}

// CountOutstandingSetupCodes is the number of setup and recovery codes that could still be
// redeemed at now: not used, not expired and not locked by wrong guesses.
func (d *DB) CountOutstandingSetupCodes(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := d.rc.QueryRowContext(ctx, `SELECT count(*) FROM setup_codes WHERE used_at IS NULL AND expires_at > ? AND attempts_left > 0`,
		ms(now)).Scan(&n)
	return n, mapErr(err)
}

// FileSizes are the sizes in bytes of the database file and of its write-ahead log (0 when
// there is none, as after a clean close).
//
// On PostgreSQL the first is the database's size on the server and the second 0: its
// write-ahead log belongs to the whole cluster and is the server's to bound.
func (d *DB) FileSizes() (dbBytes, walBytes int64, err error) {
	if d.pg {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := d.rc.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&dbBytes)
		return dbBytes, 0, mapErr(err)
	}
	fi, err := os.Stat(d.path)
	if err != nil {
		return 0, 0, err
	}
	dbBytes = fi.Size()
	wi, err := os.Stat(d.path + "-wal")
	switch {
	case err == nil:
		walBytes = wi.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return dbBytes, 0, err
	}
	return dbBytes, walBytes, nil
}
