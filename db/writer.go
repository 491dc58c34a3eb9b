package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tx is a write transaction. It holds the single writer connection, so keep it short:
// past its budget every further statement fails and the write is rolled back alone.
type Tx struct {
	tx     querier // the transaction, without the statement cache
	q      querier // the transaction through the writer's statement cache
	now    time.Time
	budget *writeBudget

	// authChanged says this write changes what authentication answers (a token revoked or
	// rotated, SCIM switched): cached authentication must not outlive its commit.
	authChanged bool

	// wrote says a statement of this write may have changed data (anything but a SELECT
	// was sent): a failure then needs an undo.
	wrote bool

	events []Event // recorded by InsertEvent, inserted by the writer if the write succeeds
}

// OverBudget reports whether this write has used up its budget of writer time. Statements
// check it themselves; a write that does long work in memory between two statements
// checks it too, and gives up, so that the budget holds there as well.
func (tx *Tx) OverBudget() bool { return tx.budget != nil && tx.budget.spent() }

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("database is closed")

// maxBatch bounds how many writes share one commit.
const maxBatch = 64

// batchTime bounds how long one batch runs before it is committed: writes still waiting
// go into the next batch, so that a commit (and the admin command queued behind it) never
// waits for more than about this plus one write's budget.
const batchTime = 50 * time.Millisecond

type writeReq struct {
	ctx    context.Context
	fn     func(tx *Tx) error
	done   chan error
	urgent bool
	budget time.Duration // 0: the database's write budget

	// authNonce is set by the writer, before done, when the write changed authentication
	// on PostgreSQL: the submitter then waits for every instance to drop its cache. committed
	// is the server's time as the batch began (before its commit).
	authNonce string
	committed time.Time
}

// writeBudget is one write's allowance of writer time.
type writeBudget struct {
	deadline time.Time
	over     bool
}

// spent reports whether the write has used up its budget, and remembers it.
func (b *writeBudget) spent() bool {
	if !b.over && time.Now().After(b.deadline) {
		b.over = true
	}
	return b.over
}

// cancelled is the context of statements past their write's budget: database/sql refuses
// to start a statement on a cancelled context before it reaches SQLite.
var cancelled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// Write runs fn in one write transaction: everything fn does is committed together, or,
// if fn returns an error, nothing is. Write returns once the change is committed.
//
// Writes from concurrent callers are committed in groups (group commit): one goroutine
// owns the writer connection, runs each waiting fn inside its own savepoint of a shared
// transaction, and commits once for all of them. A commit costs far more than a small
// change, so this multiplies write throughput under load while keeping each fn atomic:
// an fn that fails is rolled back to its savepoint and the others are unaffected.
//
// ctx only bounds the wait for the writer. Once fn has started it runs to its end
// whatever happens to ctx (a client that hangs up cannot fail anybody else's write), but
// within the write budget: past it, fn's statements fail and Write returns
// ErrWriteBudget.
//
// fn may run more than once: on PostgreSQL a batch in which one write failed after it had
// written is rolled back whole, before anything is committed or answered, and run again
// (see commitBatch). So fn must have no effect but through tx, and must leave its caller's
// variables as one run would: assign results on every path (or reset them first), never
// append to what it did not make, and work on structs it read through tx in that run.
func (d *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	return d.submit(ctx, d.writes, &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// writeAdmin is Write for the admin's actions (revoke a token, switch SCIM off): served
// before every SCIM write queued in this process, and announced to the writers of other
// processes so that they pause between their commits and let it through. An admin is
// never locked out by provisioning traffic, however heavy.
func (d *DB) writeAdmin(ctx context.Context, fn func(tx *Tx) error) error {
	release, err := d.intent.announce(ctx)
	if err != nil {
		return err
	}
	defer release()
	return d.submit(ctx, d.urgent, &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1), urgent: true})
}

func (d *DB) submit(ctx context.Context, queue chan *writeReq, req *writeReq) error {
	d.wstats.pending.Add(1)
	defer d.wstats.pending.Add(-1)
	d.queue.add(req)
	select {
	case queue <- req:
		d.queue.remove(req) // the writer has it now
	case <-ctx.Done():
		d.queue.remove(req)
		return ctx.Err()
	case <-d.closing:
		d.queue.remove(req)
		return ErrClosed
	}
	err := <-req.done
	if err == nil && req.authNonce != "" {
		d.awaitAuthAcks(context.WithoutCancel(ctx), req.authNonce, req.committed)
	}
	return err
}

// waitQueue knows since when each write not yet taken by the writer has waited, so that
// a health check can tell a writer that is stalled (a hung disk, a commit that never
// returns) from one that is merely busy.
type waitQueue struct {
	mu      sync.Mutex
	waiting map[*writeReq]time.Time
}

func (q *waitQueue) add(r *writeReq) {
	q.mu.Lock()
	if q.waiting == nil {
		q.waiting = map[*writeReq]time.Time{}
	}
	q.waiting[r] = time.Now()
	q.mu.Unlock()
}

func (q *waitQueue) remove(r *writeReq) {
	q.mu.Lock()
	delete(q.waiting, r)
	q.mu.Unlock()
}

// oldest returns how many writes wait and how long the longest-waiting one has.
func (q *waitQueue) oldest(now time.Time) (int, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var age time.Duration
	for _, since := range q.waiting {
		age = max(age, now.Sub(since))
	}
	return len(q.waiting), age
}

// writer owns the writer connection until Close.
func (d *DB) writer() {
	defer close(d.writerDone)
	var carry []*writeReq // writes a full batch left for the next one
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	for {
		batch := carry
		if len(batch) == 0 {
			idle.Reset(walIdleAfter)
			select {
			case r := <-d.urgent:
				batch = append(batch, r)
			case r := <-d.writes:
				batch = append(batch, r)
			case <-idle.C:
				d.truncateWAL(false)
				continue
			case <-d.closing:
				return
			}
		}
		batch = d.drain(batch)
		if !hasUrgent(batch) {
			batch = d.yieldToAdmins(batch)
		}
		carry = d.commitBatch(batch)
		d.walDirty = true
		d.truncateWAL(true)
	}
}

// drain adds to batch the writes already waiting, admin writes first.
func (d *DB) drain(batch []*writeReq) []*writeReq {
	for len(batch) < maxBatch {
		select {
		case r := <-d.urgent:
			batch = append([]*writeReq{r}, batch...)
			continue
		default:
		}
		select {
		case r := <-d.writes:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func hasUrgent(batch []*writeReq) bool {
	for _, r := range batch {
		if r.urgent {
			return true
		}
	}
	return false
}

// yieldToAdmins waits while an admin command of another process has announced a write,
// so that it gets the database's write lock between two of our commits instead of
// starving behind them. An admin write of this process arriving meanwhile joins the
// batch at its head. The wait is bounded: an announcement that outlives maxAdminWait is
// not honoured further (SQLite's own locking still keeps everything correct).
func (d *DB) yieldToAdmins(batch []*writeReq) []*writeReq {
	if !d.intent.announced() {
		return batch
	}
	deadline := time.Now().Add(maxAdminWait)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case r := <-d.urgent:
			return append([]*writeReq{r}, batch...)
		case <-tick.C:
		}
		if !d.intent.announced() {
			return batch
		}
	}
	return batch
}

// commitBatch runs the batch's writes in one transaction and commits them together,
// each write atomic on its own: one that fails is undone alone. It returns the writes it
// had no time for, untouched.
//
// On SQLite every write runs in its own savepoint, which costs next to nothing in the
// process. On PostgreSQL a savepoint is a round trip to another process and a
// subtransaction there, as dear as the write itself, so the batch first runs
// optimistically, without them: a write that fails having only read needs no undo, and
// the batch goes on. Only when a write fails after it has written (a userName taken, a
// write past its budget) is the whole transaction rolled back, before anything was
// committed or answered, and the batch run again with a savepoint per write, and so are
// the next safeBatches batches (a client whose creates keep conflicting costs one batch
// in safeBatches+1 run twice). Write's fn may therefore run twice; see Write.
func (d *DB) commitBatch(batch []*writeReq) (rest []*writeReq) {
	if d.pg && d.safeLeft == 0 {
		rest, again := d.runBatch(batch, true, rerun{})
		if again == nil {
			return rest
		}
		d.safeLeft = safeBatches
		rest, _ = d.runBatch(batch, false, *again)
		return rest
	}
	if d.safeLeft > 0 {
		d.safeLeft--
	}
	rest, _ = d.runBatch(batch, false, rerun{})
	return rest
}

// rerun is what an optimistic attempt leaves to the attempt after it.
type rerun struct {
	// started is how many writes of the batch it had started: they run again whatever
	// their callers' contexts say, since a write once started runs to its end.
	started int
	// overBudget is the write (its index plus one; 0: none) that used up its budget: it
	// is refused again at once rather than given its whole budget a second time.
	overBudget int
	budgetErr  error
}

// safeBatches is how many PostgreSQL batches run with a savepoint per write after an
// optimistic one had to be run again.
const safeBatches = 16

// runBatch is commitBatch's one attempt: with a savepoint per write, or, optimistic,
// without (PostgreSQL only). An optimistic attempt that cannot undo a failed write alone
// rolls everything back, answers nobody and returns what the next attempt needs to know;
// otherwise (again nil) every write it ran has its answer. prev is what an abandoned
// attempt before this one left.
func (d *DB) runBatch(batch []*writeReq, optimistic bool, prev rerun) (rest []*writeReq, again *rerun) {
	results := make([]error, len(batch))
	ran := len(batch)
	finish := func() {
		for i, r := range batch[:ran] {
			r.done <- results[i]
		}
	}
	ctx := context.Background()
	start := time.Now()
	sqlTx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		for i := range results {
			results[i] = mapErr(err)
		}
		finish()
		return nil, nil
	}
	var missing []string
	broken := error(nil)
	authChanged := make([]bool, len(batch))
	var events []Event // of the writes that succeeded, in order
	// abandon ends an optimistic attempt: nothing of it is committed or answered.
	abandon := func(next rerun) ([]*writeReq, *rerun) {
		sqlTx.Rollback()
		d.noteBatch(time.Since(start), ran)
		for _, q := range missing {
			d.wc.stmt(ctx, q)
		}
		return nil, &next
	}
	// Each write runs inside a savepoint (unless optimistic), so that one that fails is
	// undone alone. The savepoint statements are sent as few times as they can be (on
	// PostgreSQL each is a round trip to another process): the first write's comes with
	// the batch's opening statements; after a write that failed, the savepoint it was
	// rolled back to serves the next one; after one that succeeded, one exchange releases
	// it and sets the next; the last is released by the commit.
	const (
		spNone  = iota // no savepoint yet
		spClean        // a savepoint at the current state
		spDirty        // a savepoint with a successful write after it
	)
	sp := spNone
	for i, r := range batch {
		if broken != nil {
			results[i] = broken
			continue
		}
		if i > 0 && time.Since(start) > batchTime {
			ran = i
			break
		}
		if i+1 == prev.overBudget {
			results[i] = prev.budgetErr
			continue
		}
		if err := r.ctx.Err(); err != nil && i >= prev.started {
			results[i] = err // its caller has gone before it started: nothing to do
			continue
		}
		set := ""
		switch {
		case sp == spNone && d.pg:
			// The instances' write lock (see pgLockKey), held until the commit or
			// rollback; and the change every listener hears of at the commit (a batch
			// rolled back notifies nobody).
			set = fmt.Sprintf("SELECT pg_advisory_xact_lock(%d); SELECT pg_notify('%s', '')", pgLockKey, chanChange)
			if !optimistic {
				set += "; SAVEPOINT w"
			}
		case sp == spNone:
			set = "SAVEPOINT w"
		case sp == spDirty && !optimistic:
			set = "RELEASE w; SAVEPOINT w"
		}
		if set != "" {
			if _, err := sqlTx.ExecContext(ctx, set); err != nil {
				broken = mapErr(err)
				results[i] = broken
				continue
			}
			sp = spClean
		}
		allowed := d.opts.writeBudget
		if r.budget > 0 {
			allowed = r.budget
		}
		budget := &writeBudget{deadline: time.Now().Add(allowed)}
		tx := &Tx{
			now:    time.Now().UTC().Truncate(time.Millisecond),
			budget: budget,
		}
		tx.tx = txStmts{tx: sqlTx, pg: d.pg, budget: budget, wrote: &tx.wrote}
		tx.q = txStmts{tx: sqlTx, pg: d.pg, cache: d.wc, missing: &missing, budget: budget, wrote: &tx.wrote}
		err := runFn(r.fn, tx)
		authChanged[i] = err == nil && tx.authChanged
		if err == nil && budget.spent() {
			err = ErrWriteBudget // finished, but past its budget: the rule is the same for all
		}
		if err != nil {
			if budget.over {
				err = fmt.Errorf("%w (%s)", ErrWriteBudget, allowed)
			}
			if optimistic && tx.wrote { // its changes cannot be undone alone
				next := rerun{started: i + 1}
				if budget.over {
					next.overBudget, next.budgetErr = i+1, err
				}
				return abandon(next)
			}
			results[i] = err
			authChanged[i] = false
			if optimistic {
				// It only read: nothing to undo. (Had a statement of it failed in
				// PostgreSQL, the transaction would be aborted: the events or the commit
				// below fail then, and the batch is run again.)
				continue
			}
			if _, rerr := sqlTx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
				broken = mapErr(rerr) // the transaction's state is unknown: fail the rest
			}
			continue // the savepoint stays, at the state before this write
		}
		sp = spDirty
		events = append(events, tx.events...)
	}
	if broken == nil && len(events) > 0 {
		broken = insertEvents(ctx, sqlTx, events)
	}
	nonce, serverNow := "", time.Time{}
	if broken == nil && d.pg {
		broken = d.notifyCommit(sqlTx, authChanged[:ran], &nonce, &serverNow)
	}
	if broken != nil && optimistic {
		return abandon(rerun{started: ran}) // nothing was committed
	}
	committed := false
	if broken != nil {
		sqlTx.Rollback()
		for i := range results[:ran] {
			if results[i] == nil {
				results[i] = broken
			}
		}
	} else if err := sqlTx.Commit(); err != nil {
		if optimistic && errors.Is(err, pgx.ErrTxCommitRollback) {
			// A statement had failed (in a write that then reported failure, or ignored
			// it) and PostgreSQL rolled the transaction back: nothing was committed.
			return abandon(rerun{started: ran})
		}
		for i := range results[:ran] {
			if results[i] == nil {
				results[i] = mapErr(err)
			}
		}
	} else {
		committed = true
	}
	d.noteBatch(time.Since(start), ran)
	if committed {
		// Before any write of the batch returns: once a revoke has returned, no request of
		// this process may be answered from the cache it invalidated.
		for i := range batch[:ran] {
			if authChanged[i] {
				d.authChanged()
				break
			}
		}
		for i, r := range batch[:ran] {
			if authChanged[i] && nonce != "" {
				r.authNonce, r.committed = nonce, serverNow
			}
		}
		d.changes.Publish()
	}
	finish()
	for _, q := range missing {
		d.wc.stmt(ctx, q) // the connection is free again: prepare for next time
	}
	return batch[ran:], nil
}

// notifyCommit queues, in a PostgreSQL batch about to commit in which a write changed
// authentication, the auth change the other instances act on at its commit, named by a
// fresh nonce. (The change of any kind was queued as the batch began.)
func (d *DB) notifyCommit(sqlTx *sql.Tx, authChanged []bool, nonce *string, began *time.Time) error {
	ctx := context.Background()
	for _, changed := range authChanged {
		if changed {
			*nonce = newAuthNonce()
			if _, err := sqlTx.ExecContext(ctx, `SELECT pg_notify(?, ?)`, chanAuth, *nonce); err != nil {
				return mapErr(err)
			}
			// The server's clock at the transaction's start: listeners connected later
			// start with an empty cache and need not confirm (awaitAuthAcks).
			if err := sqlTx.QueryRowContext(ctx, `SELECT now()`).Scan(began); err != nil {
				return mapErr(err)
			}
			break
		}
	}
	return nil
}

// runFn runs one write, turning a panic into an error: the writer goroutine serves every
// caller and must survive a bug in one of them.
func runFn(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic in database write: %v", v)
		}
	}()
	return fn(tx)
}

// WriterStats says how the single writer has been used since Open.
type WriterStats struct {
	Batches     int64         // transactions committed or rolled back
	LongestHold time.Duration // the longest a batch held the writer, from BEGIN to COMMIT
	Waiting     int           // writes queued now that the writer has not taken yet
	OldestWait  time.Duration // how long the longest-waiting of them has waited (0: none)
	Pending     int           // writes submitted and not yet answered: queued, or in the batch being run
	Writes      int64         // writes run in batches (the sum of all batch sizes)
	HoldTotal   time.Duration // the sum of all batches' hold times
	// HoldCounts[i] is how many batches held the writer for at most HoldBounds[i] (and
	// more than the bound before it); the last entry counts the batches above every bound.
	HoldCounts []int64
	// BatchCounts is the same for batch sizes over BatchBounds.
	BatchCounts []int64
}

// HoldBounds are the upper bounds of WriterStats.HoldCounts: from a lone small write to
// a batch cut off at batchTime plus a write that used up its budget.
var HoldBounds = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// BatchBounds are the upper bounds of WriterStats.BatchCounts, up to maxBatch.
var BatchBounds = [...]int{1, 2, 4, 8, 16, 32, maxBatch}

// writerCounts are the writer's running totals; only the writer goroutine adds to them,
// atomically so that WriterStats can read them from any goroutine.
type writerCounts struct {
	batches     atomic.Int64
	longestHold atomic.Int64 // nanoseconds
	pending     atomic.Int64
	writes      atomic.Int64
	holdTotal   atomic.Int64 // nanoseconds
	hold        [len(HoldBounds) + 1]atomic.Int64
	size        [len(BatchBounds) + 1]atomic.Int64
}

// WriterStats reports the writer's use: with the write budget, LongestHold stays near
// the budget plus batchTime whatever the requests. A healthy writer takes every queued
// write within about batchTime plus one write budget, so an OldestWait far beyond that
// means it is stalled. It never waits for the writer, so a metrics scrape or a readiness
// probe can call it at any time.
func (d *DB) WriterStats() WriterStats {
	c := &d.wstats
	waiting, oldest := d.queue.oldest(time.Now())
	st := WriterStats{Batches: c.batches.Load(), LongestHold: time.Duration(c.longestHold.Load()),
		Waiting: waiting, OldestWait: oldest,
		Pending: int(c.pending.Load()), Writes: c.writes.Load(), HoldTotal: time.Duration(c.holdTotal.Load()),
		HoldCounts: make([]int64, len(c.hold)), BatchCounts: make([]int64, len(c.size))}
	for i := range c.hold {
		st.HoldCounts[i] = c.hold[i].Load()
	}
	for i := range c.size {
		st.BatchCounts[i] = c.size[i].Load()
	}
	return st
}

func (d *DB) noteBatch(held time.Duration, size int) {
	c := &d.wstats
	c.batches.Add(1)
	c.writes.Add(int64(size))
	c.holdTotal.Add(int64(held))
	i := 0
	for i < len(HoldBounds) && held > HoldBounds[i] {
		i++
	}
	c.hold[i].Add(1)
	j := 0
	for j < len(BatchBounds) && size > BatchBounds[j] {
		j++
	}
	c.size[j].Add(1)
	for {
		cur := c.longestHold.Load()
		if int64(held) <= cur || c.longestHold.CompareAndSwap(cur, int64(held)) {
			return
		}
	}
}
