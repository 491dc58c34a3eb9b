package db

import (
	"io"
	"log/slog"
	"time"
)

// Option changes how Open sets a database up.
type Option func(*options)

type options struct {
	log          *slog.Logger
	writeBudget  time.Duration
	readBudget   time.Duration
	walLimit     int64  // tests set it low to see the WAL truncated
	synchronous  string // benchmarks compare FULL with NORMAL
	onlyExisting bool   // PostgreSQL: refuse a database without the schema
	noAuthCache  bool   // benchmarks measure authentication without the cache
}

// DefaultWriteBudget is the writer time one write may use before it is rolled back alone
// with ErrWriteBudget. The budget exists so that no request can hold the single writer,
// and with it every other client's write and every admin command, for longer than this.
// Most writes an identity provider sends need a millisecond; the largest legitimate one
// (a 1 MiB body of some 20,000 group members, written or replaced) needs 100 to 250 ms on
// a busy two-core machine, so the budget leaves it room, while an admin command still
// waits at most batchTime plus one budget plus a commit: well under a second.
const DefaultWriteBudget = 500 * time.Millisecond

// DefaultReadBudget is how long a list query may read before it is stopped with
// ErrReadBudget.
const DefaultReadBudget = 3 * time.Second

func defaultOptions() options {
	return options{log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		writeBudget: DefaultWriteBudget, readBudget: DefaultReadBudget, walLimit: walLimit, synchronous: "FULL"}
}

// WithLogger sends the database's warnings (a file readable by others, fixed at open) to
// log. Without it they are dropped.
func WithLogger(log *slog.Logger) Option {
	return func(o *options) {
		if log != nil {
			o.log = log
		}
	}
}

// WithWriteBudget sets the writer time one write may use (DefaultWriteBudget otherwise).
func WithWriteBudget(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.writeBudget = d
		}
	}
}

// WithReadBudget sets how long one list query may read (DefaultReadBudget otherwise).
func WithReadBudget(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.readBudget = d
		}
	}
}

// WithoutAuthCache makes every authentication read the database, as before the cache
// existed: for benchmarks that measure what the cache saves.
func WithoutAuthCache() Option { return func(o *options) { o.noAuthCache = true } }
