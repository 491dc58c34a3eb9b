package db

import (
	"context"
	"os"
	"strconv"
	"time"
)

// walLimit is the WAL size past which the writer truncates it between two batches, and
// the size SQLite trims it back to after a reset (journal_size_limit). Without it the WAL
// of a busy server only ever grows: a PASSIVE checkpoint copies pages back but never
// restarts the WAL while writes keep coming.
const walLimit = 64 << 20

// walIdleAfter is how long the writer waits without writes before it truncates the WAL.
const walIdleAfter = time.Second

// walCheckEvery bounds how often the writer looks at the WAL's size under load.
const walCheckEvery = 200 * time.Millisecond

// checkpointBusyMS is how long a truncating checkpoint waits for readers still on old
// pages of the WAL before it gives up until next time: it runs on the writer, so it must
// not hold writes up for long.
const checkpointBusyMS = 100

// truncateWAL copies the WAL into the database and truncates it to zero bytes, when the
// writer is idle (onlyIfLarge false) or when the WAL has passed walLimit. It runs on the
// writer's own connection between batches, so no commit ever waits for it inside a
// transaction.
func (d *DB) truncateWAL(onlyIfLarge bool) {
	if !d.walDirty || d.pg {
		return
	}
	if onlyIfLarge {
		if time.Since(d.walChecked) < walCheckEvery {
			return
		}
		d.walChecked = time.Now()
		fi, err := os.Stat(d.path + "-wal")
		if err != nil || fi.Size() < d.opts.walLimit {
			return
		}
	}
	ctx := context.Background()
	conn, err := d.w.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.Itoa(checkpointBusyMS))
	defer conn.ExecContext(ctx, "PRAGMA busy_timeout = 10000")
	var busy, logFrames, done int
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err == nil && busy == 0 {
		d.walDirty = false
	}
}

// checkpointer copies the WAL back into the database file in the background (PASSIVE: it
// never blocks readers or the writer), so that the writer's truncating checkpoints find
// little left to copy.
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
