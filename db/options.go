package db

import (
	"io"
	"log/slog"
	"time"
)

// Option changes how Open sets a database up.
type Option func(*options)

type options struct {
	log         *slog.Logger
	writeBudget time.Duration
	readBudget  time.Duration
	walLimit    int64  // tests set it low to see the WAL truncated
	synchronous string // benchmarks compare FULL with NORMAL
}

// DefaultWriteBudget is the writer time one write may use before it is rolled back alone
// with ErrWriteBudget. Every write a real identity provider sends needs a few
// milliseconds; the budget exists so that no request can hold the single writer, and with
// it every other client's write and every admin command, for longer than this.
const DefaultWriteBudget = 250 * time.Millisecond

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
