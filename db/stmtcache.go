package db

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// maxCachedStmts bounds the cache: SQL text varies only with the shape of a SCIM filter
// (values are always arguments), so real traffic needs a handful of entries.
const maxCachedStmts = 512

// stmtCache prepares each distinct query once per pool instead of on every call: parsing
// and planning a query costs more than running an indexed lookup, and the SCIM hot paths
// are indexed lookups.
type stmtCache struct {
	db    *sql.DB
	pg    bool
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB, pg bool) *stmtCache {
	return &stmtCache{db: db, pg: pg, stmts: map[string]*sql.Stmt{}}
}

func (c *stmtCache) postgres() bool { return c.pg }

func (c *stmtCache) stmt(ctx context.Context, query string) *sql.Stmt {
	c.mu.RLock()
	s, full := c.stmts[query], len(c.stmts) >= maxCachedStmts
	c.mu.RUnlock()
	if s != nil || full {
		return s
	}
	// Prepare without holding the lock: preparing may wait for a connection, and a
	// transaction holding the writer's only connection may need the lock meanwhile.
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the uncached call reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.stmts[query]; old != nil {
		s.Close() // another goroutine prepared it first
		return old
	}
	c.stmts[query] = s
	return s
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	clear(c.stmts)
}

// QueryContext runs a cached statement.
func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := c.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a cached statement.
func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := c.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

// ExecContext runs a cached statement.
func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := c.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

// cached returns a statement already in the cache, without preparing one.
func (c *stmtCache) cached(query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stmts[query]
}

// txStmts runs statements inside the writer's shared transaction (through the writer's
// statement cache when cache is set).
//
// It deliberately ignores the context its callers pass. A write's fn is written with the
// request's context in hand, but once admitted a write must run to its end: the driver
// answers a cancelled context with sqlite3_interrupt, and SQLite answers an interrupted
// INSERT, UPDATE or DELETE inside an explicit transaction by rolling back the whole
// transaction, which here is the group commit of every other client's write. The writer
// budget takes the place of cancellation: it is checked before each statement, never in
// the middle of one.
//
// The writer pool has a single connection, which the transaction holds, so a statement
// cannot be prepared on the pool now (that would wait for the connection forever);
// queries not yet cached run unprepared and are noted, and the writer prepares them once
// the transaction has ended.
type txStmts struct {
	tx      *sql.Tx
	pg      bool
	cache   *stmtCache
	missing *[]string
	budget  *writeBudget
	wrote   *bool // set by any statement that may change data (see Tx.wrote)
}

func (t txStmts) postgres() bool { return t.pg }

// note records, before a statement is sent, whether it may change data: anything but a
// SELECT may (the package's SELECTs call no function that writes).
func (t txStmts) note(query string) {
	if t.wrote == nil || *t.wrote {
		return
	}
	q := strings.TrimLeft(query, " \t\r\n(")
	if len(q) < 6 || !strings.EqualFold(q[:6], "SELECT") {
		*t.wrote = true
	}
}

func (t txStmts) stmt(query string) *sql.Stmt {
	if t.cache == nil {
		return nil
	}
	if s := t.cache.cached(query); s != nil {
		return t.tx.Stmt(s)
	}
	*t.missing = append(*t.missing, query)
	return nil
}

// ctx is the context a statement of this write runs under: never cancelled while the
// write is within its budget; already cancelled once it is past it, which database/sql
// checks before it reaches the driver, so nothing is interrupted half-way.
func (t txStmts) ctx() context.Context {
	if t.budget.spent() {
		return cancelled
	}
	return context.Background()
}

func (t txStmts) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx := t.ctx()
	t.note(query)
	if s := t.stmt(query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t txStmts) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	ctx := t.ctx()
	t.note(query)
	if s := t.stmt(query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

func (t txStmts) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	ctx := t.ctx()
	t.note(query)
	if s := t.stmt(query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}
