package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"time"

	"scimdesk/db"
)

// migrateStoreCmd moves an install from one engine to the other: most often from the
// SQLite file to PostgreSQL, when one machine is no longer enough.
type migrateStoreCmd struct {
	From string `help:"The database to copy: a SQLite file or a postgres:// URL." required:"" placeholder:"FILE|URL"`
	To   string `help:"Where to copy it: a new, empty PostgreSQL database (postgres://…) or a SQLite file that does not exist yet." required:"" placeholder:"URL|FILE"`
}

func (c *migrateStoreCmd) Run(ctx context.Context, g *Globals) error {
	from, err := (&Globals{DB: c.From}).open(ctx)
	if err != nil {
		return err
	}
	defer from.Close()
	// The copy is one snapshot: what a server accepts after it began would be lost.
	if h, ok := liveServer(ctx, from); ok {
		return fmt.Errorf("a scimdesk server (pid %d) serves %s: stop it first, or writes it accepts during the copy are lost", h.PID, from.Path())
	}
	if !db.IsPostgres(c.To) {
		if _, err := os.Lstat(c.To); err == nil {
			return fmt.Errorf("%s exists: migrate-store copies only into a new database", c.To)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	to, err := openDB(ctx, c.To)
	if err != nil {
		return err
	}
	defer to.Close()
	rep, err := db.CopyStore(ctx, from, to, true)
	if err != nil {
		return fmt.Errorf("migrate-store: %w", err)
	}
	fmt.Printf("Copied %s to %s:\n", from.Path(), to.Path())
	tables := make([]string, 0, len(rep.Rows))
	for t := range rep.Rows {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fmt.Printf("  %-18s %8d rows\n", t, rep.Rows[t])
	}
	fmt.Printf("Checked in %s: the same rows on both sides (SHA-256 %s).\n", rep.Took.Round(time.Millisecond), rep.Checksum[:16])
	// The old database keeps its tokens: a server started on it by mistake would go on
	// taking the identity provider's writes, and the two would drift apart. SCIM off there
	// makes such a server answer 403 instead (the copy keeps the switch as it was).
	if on, err := from.SCIMEnabled(ctx); err == nil && on {
		if err := from.SetSCIMEnabled(ctx, false, actor()+" (migrate-store to "+to.Path()+")"); err != nil {
			return fmt.Errorf("the copy is complete, but switching SCIM off on %s failed: %w; switch it off there before serving the copy", from.Path(), err)
		}
		fmt.Printf("SCIM is now off on %s, so that a server started on it by mistake refuses the identity provider (scim enable there undoes it).\n", from.Path())
	}
	fmt.Println("Next: serve the new database: --db (or SCIMDESK_DB) set to the URL you gave --to.")
	return nil
}
