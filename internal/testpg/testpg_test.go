package testpg_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"scimdesk/internal/testpg"
)

func TestMain(m *testing.M) { testpg.Main(m) }

// connect opens a connection to dsn that the test closes when it ends.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connecting to %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// databaseOf is the database name in a DSN.
func databaseOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func TestDSNIsAnEmptyDatabaseOfItsOwn(t *testing.T) {
	ctx := context.Background()
	dsn := testpg.DSN(t)
	conn := connect(t, dsn)

	var current string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&current); err != nil {
		t.Fatal(err)
	}
	if current != databaseOf(t, dsn) || !strings.HasPrefix(current, "t_testdsnisanemptydatabaseofitsown_") {
		t.Fatalf("connected to database %q through %s", current, dsn)
	}
	var tables int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("a new database has %d tables", tables)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE users (name text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO users VALUES ('ada')"); err != nil {
		t.Fatal(err)
	}

	// The same URL again is a second connection to the same database.
	var name string
	if err := connect(t, dsn).QueryRow(ctx, "SELECT name FROM users").Scan(&name); err != nil || name != "ada" {
		t.Fatalf("a second connection to %s reads %q, %v", dsn, name, err)
	}

	// Another DSN is another database: it has no such table.
	other := testpg.DSN(t)
	if databaseOf(t, other) == current {
		t.Fatalf("two DSNs name the same database %s", current)
	}
	if err := connect(t, other).QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("the second database has %d tables (%v)", tables, err)
	}
}

func TestDatabaseIsDroppedWhenTheTestEnds(t *testing.T) {
	ctx := context.Background()
	checker := connect(t, testpg.DSN(t))
	var dropped string
	var left *pgx.Conn
	t.Run("owner", func(t *testing.T) {
		dsn := testpg.DSN(t)
		dropped = databaseOf(t, dsn)
		// A connection the test forgets to close must not keep its database alive.
		var err error
		if left, err = pgx.Connect(ctx, dsn); err != nil {
			t.Fatal(err)
		}
	})
	if left == nil {
		t.FailNow() // the owner failed, and said why
	}
	defer left.Close(ctx)

	var n int
	if err := checker.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", dropped).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after its test ended", dropped)
	}
	if err := left.Ping(ctx); err == nil {
		t.Fatal("the connection left open to the dropped database still answers")
	}
}

func TestParallelTestsEachGetTheirOwnDatabase(t *testing.T) {
	var mu sync.Mutex
	names := map[string]int{}
	t.Run("group", func(t *testing.T) {
		for i := range 12 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				dsn := testpg.DSN(t)
				mu.Lock()
				names[databaseOf(t, dsn)] = i
				mu.Unlock()
				conn := connect(t, dsn)
				if _, err := conn.Exec(ctx, "CREATE TABLE mine (i int)"); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(ctx, "INSERT INTO mine VALUES ($1)", i); err != nil {
					t.Fatal(err)
				}
				rows, err := conn.Query(ctx, "SELECT i FROM mine")
				if err != nil {
					t.Fatal(err)
				}
				got, err := pgx.CollectRows(rows, pgx.RowTo[int])
				if err != nil || len(got) != 1 || got[0] != i {
					t.Fatalf("table mine holds %v (%v), want only %d", got, err, i)
				}
			})
		}
	})
	if len(names) != 12 {
		t.Fatalf("12 parallel tests got %d distinct databases: %v", len(names), names)
	}
}

// helperEnv is the environment of a helper run of this test binary: without the server
// this run was given, and with the helper's mode.
func helperEnv(mode string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, testpg.EnvVar+"=") && !strings.HasPrefix(kv, "CI=") {
			env = append(env, kv)
		}
	}
	return append(append(env, "TESTPG_HELPER="+mode), extra...)
}

// TestHelperDSN is not a test: it is the helper run of this binary that asks for a
// database, for the tests that check how DSN fails.
func TestHelperDSN(t *testing.T) {
	if os.Getenv("TESTPG_HELPER") != "dsn" {
		t.Skip("a helper for other tests")
	}
	testpg.DSN(t)
	fmt.Println("helper: got a database")
}

func TestServerThatCannotBeUsedFailsTheTest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name, server string
		want         []string
	}{
		{"refused", "postgres://postgres:secret@" + closed + "/postgres?sslmode=disable",
			[]string{"creating a database on " + testpg.EnvVar + "=postgres://postgres:xxxxx@" + closed, "refused"}},
		{"not a postgres URL", "mysql://root@127.0.0.1/x",
			[]string{testpg.EnvVar + " is not a postgres:// URL: mysql://root@127.0.0.1/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Outside CI too: a server named but unusable is a failure, never a skip.
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDSN$", "-test.count=1", "-test.v")
			cmd.Env = helperEnv("dsn", testpg.EnvVar+"="+tc.server)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "--- FAIL: TestHelperDSN") {
				t.Fatalf("the helper with %s=%s did not fail (%v):\n%s", testpg.EnvVar, tc.server, err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("the failure does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), "secret") {
				t.Errorf("the failure shows the password:\n%s", out)
			}
		})
	}
}

// TestOffSkipsOutsideCIAndFailsInCI: SCIMDESK_TEST_POSTGRES=off skips a test that needs
// PostgreSQL, saying so, on a developer's machine (a long mutation run), and fails it in CI.
func TestOffSkipsOutsideCIAndFailsInCI(t *testing.T) {
	for _, ci := range []bool{false, true} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDSN$", "-test.count=1", "-test.v")
		cmd.Env = helperEnv("dsn", testpg.EnvVar+"=off")
		if ci {
			cmd.Env = append(cmd.Env, "CI=true")
		}
		out, err := cmd.CombinedOutput()
		switch {
		case !ci && (err != nil || !strings.Contains(string(out), "--- SKIP: TestHelperDSN") || !strings.Contains(string(out), testpg.EnvVar+"=off")):
			t.Errorf("outside CI, with %s=off: want a skip that names it (%v):\n%s", testpg.EnvVar, err, out)
		case ci && (err == nil || !strings.Contains(string(out), "--- FAIL: TestHelperDSN")):
			t.Errorf("in CI, with %s=off: want a failure (%v):\n%s", testpg.EnvVar, err, out)
		}
	}
}
