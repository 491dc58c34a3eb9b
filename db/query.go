package db

import (
	"context"
	"database/sql"
)

// querier is what both the reader pool and a write transaction offer, so that each read is
// written once and used inside and outside transactions.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	// postgres reports whether the statements run on PostgreSQL, for the few that are
	// written differently there (see dialect.go).
	postgres() bool
}

// Where is a parameterised SQL condition built by a caller from an allow-list of
// attributes (the SCIM filter translator). An empty SQL means "everything".
type Where struct {
	SQL  string
	Args []any
}

func (w Where) clause() string {
	if w.SQL == "" {
		return ""
	}
	return " WHERE " + w.SQL
}

// Page says which slice of a list to return and in what order. OrderBy must come from an
// allow-list (it is pasted into SQL); creation order breaks ties so pages are stable.
type Page struct {
	OrderBy string
	Desc    bool
	Offset  int
	Limit   int
	// Few says the caller expects a handful of rows (a lookup by a unique attribute):
	// then each row's groups are read in the same query instead of a second one.
	Few bool
}

func (p Page) suffix(seqCol string) (string, []any) {
	order := seqCol
	if p.OrderBy != "" {
		dir := " ASC"
		if p.Desc {
			dir = " DESC"
		}
		order = p.OrderBy + dir + ", " + seqCol + dir
	} else if p.Desc {
		order = seqCol + " DESC"
	}
	return " ORDER BY " + order + " LIMIT ? OFFSET ?", []any{p.Limit, max(p.Offset, 0)}
}

func count(ctx context.Context, q querier, table string, w Where) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+table+w.clause(), w.Args...).Scan(&n)
	return n, mapErr(err)
}
