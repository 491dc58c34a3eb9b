package tui

import (
	"context"
	"testing"

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

	back := testpg.CutOff(t, dsn)
	s.waitScreen("Database  ✗ cannot read it", "the servers' state is unknown")
	back()
	s.waitScreen("Server    ✗ not running") // read again: no server serves this database
}
