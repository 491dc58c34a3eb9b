package testpg

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// CutOff makes the database of dsn (a URL from DSN) unreachable, as an outage would: it
// stops taking connections, every connection to it is ended, and it is renamed away. The
// returned function brings it back under its name; the test's cleanup does too, if the
// test has not.
func CutOff(t testing.TB, dsn string) (restore func()) {
	t.Helper()
	admin, err := serverURL()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	away := name + "_away"
	// Refusing new connections first matters: a pool and a listener reconnect within
	// milliseconds of being ended (faster still under the race detector's scheduling), and
	// a rename needs a moment with no connection at all.
	alter(t, admin, name, "ALLOW_CONNECTIONS false")
	rename(t, admin, name, away)
	var once sync.Once
	restore = func() {
		once.Do(func() {
			rename(t, admin, away, name)
			alter(t, admin, name, "ALLOW_CONNECTIONS true")
		})
	}
	t.Cleanup(restore)
	return restore
}

// alter runs ALTER DATABASE name WITH setting.
func alter(t testing.TB, admin, name, setting string) {
	t.Helper()
	err := withAdmin(admin, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH "+setting)
		return err
	})
	if err != nil {
		t.Fatalf("testpg: ALTER DATABASE %s WITH %s: %v", name, setting, err)
	}
}

// rename renames database from to to, ending the connections that keep it in use (tries
// for up to 10 s, in case one was being made as new connections were refused).
func rename(t testing.TB, admin, from, to string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := withAdmin(admin, func(ctx context.Context, conn *pgx.Conn) error {
			conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, from)
			_, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{from}.Sanitize()+" RENAME TO "+pgx.Identifier{to}.Sanitize())
			return err
		})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testpg: renaming database %s to %s: %v", from, to, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
