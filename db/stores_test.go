package db

import (
	"context"
	"testing"

	"scimdesk/internal/testpg"
	"scimdesk/internal/teststore"
)

// store is one engine the package's tests run on: the same test, the same assertions,
// over a SQLite file and over a PostgreSQL database.
type store struct{ teststore.Engine }

// eachStore runs fn once per engine, as a subtest named after it.
func eachStore(t *testing.T, fn func(t *testing.T, s store)) {
	t.Helper()
	teststore.Each(t, func(t *testing.T, e teststore.Engine) { fn(t, store{e}) })
}

// open opens a new database of this engine, closed when the test ends, and its location
// (to open it again, as another process would).
func (s store) open(t *testing.T, opt ...Option) (*DB, string) {
	t.Helper()
	loc := s.Location(t)
	d, err := Open(context.Background(), loc, opt...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, loc
}

// openDB is open without the location.
func (s store) openDB(t *testing.T, opt ...Option) *DB {
	t.Helper()
	d, _ := s.open(t, opt...)
	return d
}

// TestMain stops the PostgreSQL cluster the tests may have started for themselves.
func TestMain(m *testing.M) { testpg.Main(m) }
