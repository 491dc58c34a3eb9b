// Package teststore runs a test once per database engine: the same test, the same
// assertions, over a new SQLite file in a temporary directory and over a new, empty
// PostgreSQL database (internal/testpg).
package teststore

import (
	"path/filepath"
	"testing"

	"scimdesk/internal/testpg"
)

// Engine is one database engine the tests run on.
type Engine struct {
	// Name is the engine's name, and the subtest's: "sqlite" or "postgres".
	Name string
	// Location makes a new, empty database of this engine and returns what db.Open (and
	// --db) takes: a file path or a postgres:// URL. A PostgreSQL engine the machine
	// cannot provide skips the test, with the reason (fails it in CI).
	Location func(t testing.TB) string
}

// Engines are the engines every store test runs on.
var Engines = []Engine{
	{Name: "sqlite", Location: func(t testing.TB) string { return filepath.Join(t.TempDir(), "scimdesk.db") }},
	{Name: "postgres", Location: func(t testing.TB) string { return testpg.DSN(t) }},
}

// Each runs fn once per engine, as a subtest named after it.
func Each(t *testing.T, fn func(t *testing.T, e Engine)) {
	t.Helper()
	for _, e := range Engines {
		t.Run(e.Name, func(t *testing.T) { fn(t, e) })
	}
}
