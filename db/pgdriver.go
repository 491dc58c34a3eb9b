package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// The package's SQL is written once, with SQLite's "?" placeholders. PostgreSQL numbers
// its parameters ($1, $2, …), so its connections go through pgConn, which rewrites the
// placeholders of every statement before pgx sees it: each query, prepared statement and
// transaction of the package works on both engines without a second copy of its text.

// openPostgres opens a database/sql pool of n connections on the PostgreSQL database at
// dsn whose statements are rewritten by pgConn. A readOnly pool's transactions cannot
// write, like SQLite's query_only readers.
func openPostgres(dsn string, n int, readOnly bool) (*sql.DB, error) {
	cfg, err := parsePostgres(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > pgConnectTimeout {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	return db, nil
}

// parsePostgres reads a postgres:// URL into pgx's configuration. The scheme may be in
// any case (URL schemes are case-insensitive; pgx takes only lower case), and an error
// never shows the password.
func parsePostgres(dsn string) (*pgx.ConnConfig, error) {
	if scheme, rest, ok := strings.Cut(dsn, "://"); ok {
		dsn = strings.ToLower(scheme) + "://" + rest
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		msg := err.Error()
		if u, perr := url.Parse(dsn); perr == nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
			if pw := u.Query().Get("password"); pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
		if i := strings.LastIndex(msg, "`: "); i >= 0 { // pgx repeats the URL; the caller names it
			msg = msg[i+3:]
		}
		return nil, fmt.Errorf("invalid PostgreSQL URL: %s", msg)
	}
	return cfg, nil
}

// pgConnector hands database/sql connections that rebind placeholders.
type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("unexpected PostgreSQL driver connection %T", conn)
	}
	return pgConn{sc}, nil
}

// pgConn is pgx's database/sql connection with "?" placeholders rewritten to "$n".
// Embedding keeps every other interface pgx implements (transactions, pings, session
// resets, argument checks).
type pgConn struct{ *stdlib.Conn }

func (c pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// CheckNamedValue stores booleans as the integers 1 and 0, as SQLite does: the schema's
// flags are integer columns on both engines, so that both read and write the same values.
func (c pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if b {
			nv.Value = int64(1)
		}
	}
	return nil
}

// rebound remembers rewritten queries: the package's statements are a bounded set of
// texts (SCIM filters vary only in shape, their values are arguments), and rewriting is a
// scan of the whole text on every call otherwise.
var rebound struct {
	sync.RWMutex
	m map[string]string
}

// maxRebound bounds that memory, whatever shapes of filters clients send.
const maxRebound = 2048

// rebind rewrites the "?" placeholders of query to PostgreSQL's "$1", "$2", … (and a
// numbered "?3" to "$3"), leaving question marks inside string literals, quoted identifiers
// and comments alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	rebound.RLock()
	out, ok := rebound.m[query]
	rebound.RUnlock()
	if ok {
		return out
	}
	out = rebindText(query)
	rebound.Lock()
	if rebound.m == nil {
		rebound.m = map[string]string{}
	}
	if len(rebound.m) < maxRebound {
		rebound.m[query] = out
	}
	rebound.Unlock()
	return out
}

func rebindText(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// A quoted literal or identifier runs to the next unescaped quote (a doubled
			// quote is an escaped one and simply starts the next run).
			j := strings.IndexByte(query[i+1:], c)
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case c == '?' && i+1 < len(query) && query[i+1] >= '0' && query[i+1] <= '9':
			b.WriteByte('$') // "?3" names its parameter already: "$3"
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
