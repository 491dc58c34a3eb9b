package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// Each migration has a text for each engine: migrations/NAME for SQLite and
// migrations/postgres/NAME for PostgreSQL. Both record it as "migrations/NAME", so that a
// database says the same of its schema on either engine (migrate-store compares them).
func migrationBody(name string, pg bool) ([]byte, error) {
	if pg {
		return migrationFS.ReadFile("migrations/postgres/" + strings.TrimPrefix(name, "migrations/"))
	}
	return migrationFS.ReadFile(name)
}

// pgLockKey is the key of the PostgreSQL advisory lock that every write transaction of
// every instance takes first ("scimdesk" in ASCII): writes to one PostgreSQL database are
// serialized across instances as SQLite serializes the processes writing one file, so
// every rule the package keeps with a read before a write (single-use codes, versions,
// membership) holds with several instances too, and ids are committed in the order they
// are taken, which is what tailing the event log relies on.
const pgLockKey int64 = 0x7363696d6465736b

// migrationBudget is the writer time one migration may use: far above a request's
// budget, since a migration rewrites tables once, with nothing else to wait for.
const migrationBudget = 10 * time.Minute

// migrate applies, in name order, every embedded migration not yet recorded, each in its
// own transaction together with its record, so a crash leaves either all of one or none.
//
// It first reads what is recorded without taking the write lock: a database that is up
// to date is opened without writing anything, so admin commands and consoles open it while
// a server next door writes at full speed. A database that records a migration this
// binary does not know was written by a newer scimdesk: it is refused before anything is
// written to it.
func (d *DB) migrate(ctx context.Context) error {
	names, err := migrationNames()
	if err != nil {
		return err
	}
	applied, err := appliedMigrations(ctx, d.w, d.pg)
	if err != nil {
		return fmt.Errorf("read migrations: %w", mapErr(err))
	}
	if err := checkKnown(applied); err != nil {
		return err
	}
	if len(applied) == len(names) {
		return nil
	}
	if d.pg && len(applied) == 0 {
		if err := d.schemaIsOurs(ctx); err != nil {
			return err
		}
	}
	// Inside the write, which on PostgreSQL holds the instances' write lock: two instances
	// starting together would otherwise race to create the table (and one would fail).
	createTable := func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	}
	if err := d.submit(ctx, d.urgent, &writeReq{ctx: ctx, done: make(chan error, 1), urgent: true, budget: migrationBudget, fn: createTable}); err != nil {
		return fmt.Errorf("prepare migrations: %w", mapErr(err))
	}
	for _, name := range names {
		err := d.submit(ctx, d.urgent, &writeReq{ctx: ctx, done: make(chan error, 1), urgent: true, budget: migrationBudget,
			fn: func(tx *Tx) error {
				var n int
				if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					return nil
				}
				body, err := migrationBody(name, d.pg)
				if err != nil {
					return err
				}
				if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
					return err
				}
				_, err = tx.tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, name, ms(tx.now))
				return err
			}})
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, mapErr(err))
		}
	}
	return nil
}

// schemaIsOurs refuses to create scimdesk's tables in a PostgreSQL schema that already
// holds other tables: another application's users or settings table would clash, or,
// worse, not clash and mix with scimdesk's.
func (d *DB) schemaIsOurs(ctx context.Context) error {
	rows, err := d.w.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name <> 'migrations' ORDER BY table_name LIMIT 6`)
	if err != nil {
		return fmt.Errorf("read the database's tables: %w", mapErr(err))
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		return fmt.Errorf("%w: the database already holds tables of another application (%s): give scimdesk a database of its own, "+
			"or a schema of its own (add ?search_path=scimdesk to the URL after CREATE SCHEMA scimdesk)",
			ErrNotDatabase, strings.Join(names, ", "))
	}
	return rows.Err()
}

// migrationNames are the embedded migrations, in the order they apply.
func migrationNames() ([]string, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	sort.Strings(names)
	return names, err
}

// checkKnown returns ErrNewerSchema if applied records a migration this binary does not
// know: the database was written by a newer scimdesk.
func checkKnown(applied []string) error {
	names, err := migrationNames()
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, name := range names {
		known[name] = true
	}
	for _, name := range applied {
		if !known[name] {
			return fmt.Errorf("%w (it records migration %s, which this version does not know): upgrade scimdesk to open it",
				ErrNewerSchema, strings.TrimPrefix(name, "migrations/"))
		}
	}
	return nil
}

// appliedMigrations reads the recorded migrations of the database c reads: none for a
// new, empty database.
func appliedMigrations(ctx context.Context, c *sql.DB, pg bool) ([]string, error) {
	var exists int
	tables := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'migrations'`
	if pg {
		tables = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'migrations'`
	}
	if err := c.QueryRowContext(ctx, tables).Scan(&exists); err != nil {
		return nil, err
	}
	if exists == 0 {
		return nil, nil
	}
	rows, err := c.QueryContext(ctx, `SELECT name FROM migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name sql.NullString
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name.String)
	}
	return out, rows.Err()
}
