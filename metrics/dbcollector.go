package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scimdesk/db"
)

// dbCollector reads the database's state when Prometheus scrapes. The counts come from
// the reader pool, never the writer, bounded by a timeout and reused for a few seconds;
// the writer's figures and the file sizes cost no query and are always fresh.
type dbCollector struct {
	store *db.DB
	opts  Options

	users, groups, tokens, earliest, codes, lastIdP, ok *prometheus.Desc
	dbSize, walSize                                     *prometheus.Desc
	pending, batchSize, hold, longestHold               *prometheus.Desc

	// costFactor bounds the share of one core that counting can take, however often
	// Prometheus scrapes: counts are reused for costFactor times what the last count
	// took, if that is longer than CacheFor.
	costFactor int

	mu   sync.Mutex    // held while counting, so that concurrent scrapes share one count
	at   time.Time     // when snap was taken
	cost time.Duration // what taking it took
	snap counts
}

// defaultCostFactor keeps counting under 2% of one core: at 100,000 users counting by
// status reads the whole users table (about 125 ms on a small server), so counts are then
// reused for about 6 s, and for a minute at a million users.
const defaultCostFactor = 50

// counts is what the queries found.
type counts struct {
	err      error
	users    db.StatusCounts
	groups   int
	tokens   map[string]int // by state
	earliest time.Time      // earliest expiry of a token still accepted; zero: none expires
	lastUsed time.Time      // the latest use of any token: the last request an identity provider made
	codes    int
}

// tokenStates are the states every scrape reports, with 0 for a state no token is in.
var tokenStates = []string{db.TokenActive, db.TokenExpiring, db.TokenExpired, db.TokenRevoked}

func newDBCollector(store *db.DB, opts Options) *dbCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &dbCollector{store: store, opts: opts, costFactor: defaultCostFactor,
		users:       d("scimdesk_users", "Users by status: pending (no master key yet), ready, deactivated.", "status"),
		groups:      d("scimdesk_groups", "Groups."),
		tokens:      d("scimdesk_tokens", "SCIM tokens by state: active, expiring (within 14 days), expired, revoked.", "state"),
		earliest:    d("scimdesk_token_earliest_expiry_timestamp_seconds", "When the first SCIM token that is still accepted expires (absent when none expires)."),
		codes:       d("scimdesk_setup_codes_outstanding", "Setup and recovery codes issued and still redeemable."),
		lastIdP:     d("scimdesk_last_idp_request_timestamp_seconds", "When an identity provider last made a SCIM request with a valid token (absent if never; written every few seconds)."),
		ok:          d("scimdesk_db_stats_ok", "1 if the database counts of this scrape could be read in time, else 0 (and they are absent)."),
		dbSize:      d("scimdesk_db_size_bytes", "Size of the database file."),
		walSize:     d("scimdesk_wal_size_bytes", "Size of the database's write-ahead log."),
		pending:     d("scimdesk_writer_pending", "Writes waiting for the single database writer or in its current batch."),
		batchSize:   d("scimdesk_writer_batch_size", "Writes committed together in one transaction (group commit)."),
		hold:        d("scimdesk_writer_hold_seconds", "How long each batch held the database writer, from BEGIN to COMMIT."),
		longestHold: d("scimdesk_writer_longest_hold_seconds", "The longest any batch has held the writer since the server started."),
	}
}

// Describe sends every descriptor this collector can send.
func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.users, c.groups, c.tokens, c.earliest, c.codes, c.lastIdP, c.ok,
		c.dbSize, c.walSize, c.pending, c.batchSize, c.hold, c.longestHold} {
		ch <- d
	}
}

// Collect reads the database's state.
func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	c.collectWriter(ch, gauge)
	if dbBytes, walBytes, err := c.store.FileSizes(); err == nil {
		gauge(c.dbSize, float64(dbBytes))
		gauge(c.walSize, float64(walBytes))
	}

	n := c.counts()
	if n.err != nil {
		gauge(c.ok, 0)
		return
	}
	gauge(c.ok, 1)
	gauge(c.users, float64(n.users.Pending), "pending")
	gauge(c.users, float64(n.users.Ready), "ready")
	gauge(c.users, float64(n.users.Deactivated), "deactivated")
	gauge(c.groups, float64(n.groups))
	for _, s := range tokenStates {
		gauge(c.tokens, float64(n.tokens[s]), s)
	}
	if !n.earliest.IsZero() {
		gauge(c.earliest, seconds(n.earliest))
	}
	if !n.lastUsed.IsZero() {
		gauge(c.lastIdP, seconds(n.lastUsed))
	}
	gauge(c.codes, float64(n.codes))
}

func (c *dbCollector) collectWriter(ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string)) {
	ws := c.store.WriterStats()
	gauge(c.pending, float64(ws.Pending))
	gauge(c.longestHold, ws.LongestHold.Seconds())
	// The counts are read one by one while the writer goes on, so each histogram's total
	// is the sum of its own buckets: never fewer than the buckets say, as Prometheus wants.
	holdBuckets := make(map[float64]uint64, len(db.HoldBounds))
	var cum uint64
	for i, b := range db.HoldBounds {
		cum += uint64(ws.HoldCounts[i])
		holdBuckets[b.Seconds()] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.hold, cum+uint64(ws.HoldCounts[len(db.HoldBounds)]), ws.HoldTotal.Seconds(), holdBuckets)
	sizeBuckets := make(map[float64]uint64, len(db.BatchBounds))
	cum = 0
	for i, b := range db.BatchBounds {
		cum += uint64(ws.BatchCounts[i])
		sizeBuckets[float64(b)] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.batchSize, cum+uint64(ws.BatchCounts[len(db.BatchBounds)]), float64(ws.Writes), sizeBuckets)
}

// counts returns the database counts, read now or a little earlier (see costFactor).
func (c *dbCollector) counts() counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if !c.at.IsZero() && now.Sub(c.at) < max(c.opts.CacheFor, time.Duration(c.costFactor)*c.cost) {
		return c.snap
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	c.snap, c.at = c.query(ctx, now), now
	c.cost = time.Since(now)
	return c.snap
}

func (c *dbCollector) query(ctx context.Context, now time.Time) counts {
	var n counts
	if n.users, n.err = c.store.CountUsersByStatus(ctx); n.err != nil {
		return n
	}
	if n.groups, n.err = c.store.CountGroups(ctx); n.err != nil {
		return n
	}
	if n.codes, n.err = c.store.CountOutstandingSetupCodes(ctx, now); n.err != nil {
		return n
	}
	toks, err := c.store.Tokens(ctx)
	if err != nil {
		n.err = err
		return n
	}
	n.tokens = make(map[string]int, len(tokenStates))
	for _, t := range toks {
		st := t.Status(now)
		n.tokens[st]++
		if (st == db.TokenActive || st == db.TokenExpiring) && !t.Expires.IsZero() &&
			(n.earliest.IsZero() || t.Expires.Before(n.earliest)) {
			n.earliest = t.Expires
		}
		if t.LastUsed.After(n.lastUsed) {
			n.lastUsed = t.LastUsed
		}
	}
	return n
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
