package tui

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"scimdesk/db"
	"scimdesk/internal/testpg"
)

// TestDatabaseOutageIsNamedOnTabOne: a console on PostgreSQL whose database goes out of
// reach says so on tab 1, instead of taking the servers' silent heartbeats for hung
// servers, and shows the servers again once the database is back.
func TestDatabaseOutageIsNamedOnTabOne(t *testing.T) {
	ctx := context.Background()
	dsn := testpg.DSN(t)
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s := startTerm(t, newApp(testDeps(t, d, Options{})), 100, 30)
	s.waitScreen("Server")

	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	admin, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	rename := func(from, to string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, from)
			if _, err := admin.Exec(ctx, `ALTER DATABASE "`+from+`" RENAME TO "`+to+`"`); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("rename %s to %s: it stays in use", from, to)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	rename(name, name+"_away")
	back := false
	defer func() {
		if !back {
			rename(name+"_away", name)
		}
	}()
	s.waitScreen("Database  ✗ cannot read it", "the servers' state is unknown")
	rename(name+"_away", name)
	back = true
	s.waitScreen("Server    ✗ not running") // read again: no server serves this database
}
