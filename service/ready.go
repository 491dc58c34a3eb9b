package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"scimdesk/db"
)

// Health tunes /readyz. Zero values take the defaults.
type Health struct {
	// ProbeEvery is how often at most /readyz commits a probe through the database writer
	// (default 5s); between probes it answers from the last one, so that polling /readyz
	// cannot load the writer.
	ProbeEvery time.Duration
	// MinFreeBytes is the free space below which the disk holding the database counts as
	// full (default 32 MiB): SQLite needs room for the WAL before a write can commit.
	MinFreeBytes uint64
	// StallAfter is how long a queued write may wait for the writer before the writer
	// counts as stalled (default 10s; a healthy writer takes each within a second).
	StallAfter time.Duration
}

const (
	defaultProbeEvery   = 5 * time.Second
	defaultMinFreeBytes = 32 << 20
	defaultStallAfter   = 10 * time.Second
	probeTimeout        = 3 * time.Second
)

// Not-ready reasons, as /readyz says them: short and fixed, since anyone may ask. The
// details go to the log.
var (
	errStalled  = errors.New("the database writer is stalled")
	errDiskFull = errors.New("the disk holding the database is full")
	errNoWrite  = errors.New("the database cannot take writes")
	errProbing  = errors.New("checking the database")
)

// readiness decides /readyz: the writer takes writes, a write commits, the disk has room.
type readiness struct {
	db  *db.DB
	cfg Health
	log *slog.Logger
	dir string // the database's directory, for the free-space check

	mu      sync.Mutex
	probing bool
	probed  time.Time // when the last probe finished
	probe   error     // its result
	was     string    // the last answer's reason ("" ready), to log changes only
	logged  bool
}

func newReadiness(d *db.DB, cfg Health, log *slog.Logger) *readiness {
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = defaultProbeEvery
	}
	if cfg.MinFreeBytes == 0 {
		cfg.MinFreeBytes = defaultMinFreeBytes
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = defaultStallAfter
	}
	return &readiness{db: d, cfg: cfg, log: log, dir: filepath.Dir(d.LocalPath())}
}

// check is nil when the service is ready, else every reason it is not.
func (r *readiness) check(ctx context.Context) error {
	var reasons, details []string
	fail := func(reason error, detail string) {
		reasons, details = append(reasons, reason.Error()), append(details, detail)
	}
	if st := r.db.WriterStats(); st.OldestWait > r.cfg.StallAfter {
		fail(errStalled, fmt.Sprintf("%d writes queued, the oldest for %s", st.Waiting, st.OldestWait.Round(time.Millisecond)))
	}
	if free, err := freeBytes(r.dir); err == nil && free < r.cfg.MinFreeBytes {
		fail(errDiskFull, fmt.Sprintf("%d bytes free in %s, under %d", free, r.dir, r.cfg.MinFreeBytes))
	}
	if err := r.writable(); err != nil {
		fail(errNoWrite, err.Error())
	}
	reason := strings.Join(reasons, "; ")
	r.note(reason, strings.Join(details, "; "))
	if reason == "" {
		return nil
	}
	return errors.New(reason)
}

// writable is the result of the last write probe, probing again when it is older than
// ProbeEvery. One probe runs at a time; callers meanwhile get the last result.
func (r *readiness) writable() error {
	r.mu.Lock()
	if r.probing || (!r.probed.IsZero() && time.Since(r.probed) < r.cfg.ProbeEvery) {
		err := r.probe
		if r.probed.IsZero() {
			err = errProbing
		}
		r.mu.Unlock()
		return err
	}
	r.probing = true
	r.mu.Unlock()
	// Not the request's context: a client hanging up must not spoil the cached answer.
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	err := r.db.ProbeWrite(ctx)
	cancel()
	r.mu.Lock()
	r.probing, r.probed, r.probe = false, time.Now(), err
	r.mu.Unlock()
	return err
}

// note logs when readiness changes, never per request.
func (r *readiness) note(reason, detail string) {
	r.mu.Lock()
	changed := !r.logged || reason != r.was
	r.was, r.logged = reason, true
	r.mu.Unlock()
	switch {
	case !changed:
	case reason != "":
		r.log.Warn("not ready: "+reason, "detail", detail)
	default:
		r.log.Info("ready: the database takes writes")
	}
}
