// Package testpg gives each test a real, empty PostgreSQL database of its own, created for
// the test and dropped when it ends.
//
// The server comes from SCIMDESK_TEST_POSTGRES when it is set (a postgres:// URL of a server
// where its user may CREATE DATABASE; .ci/run sets it to the cluster it starts). Otherwise,
// on Linux, the first test that asks starts one throwaway cluster for the whole test binary
// with the newest initdb found (on PATH, or Debian's /usr/lib/postgresql/<version>/bin).
// Without either, or with SCIMDESK_TEST_POSTGRES=off, the test is skipped, saying why,
// and fails under CI.
//
// A package whose tests call DSN stops that cluster and removes its directory from TestMain:
//
//	func TestMain(m *testing.M) { testpg.Main(m) }
//
// or, in a TestMain that does more, by calling testpg.Stop after m.Run. Without that
// the cluster still dies with the test binary (the kernel signals it when its
// parent goes), and the next run that starts a cluster removes the directory left behind.
package testpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"scimdesk/internal/testtool"
)

// EnvVar names the environment variable holding the URL of a PostgreSQL server for the
// tests; its user must be allowed to CREATE DATABASE.
const EnvVar = "SCIMDESK_TEST_POSTGRES"

// connectTimeout bounds every admin connection and statement, so that a server that
// accepts a connection and then says nothing fails the test instead of hanging it.
var connectTimeout = 15 * time.Second

// errUnavailable marks the reasons a test skips: no server was named and none can be
// started here. Anything else (a named server that does not answer, a cluster that does
// not start) fails the test.
var errUnavailable = errors.New("no PostgreSQL for the tests")

// DSN returns a postgres:// URL of a new, empty database made for this test alone; the
// database is dropped when the test and its cleanups are done, with any connections still
// open to it ended first. Call it again for a second, separate database; open the same
// URL again for a second connection to this one.
func DSN(t testing.TB) string {
	t.Helper()
	admin, err := serverURL()
	if errors.Is(err, errUnavailable) {
		testtool.SkipUnlessCI(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := createDatabase(admin, databaseName(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(admin, dsn); err != nil {
			t.Error(err)
		}
	})
	return dsn
}

// Main runs the tests of a package that uses DSN, then stops the cluster started for them.
// Call it from TestMain; it does not return.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the cluster this test binary started, if it did, and removes its directory.
// DSN cannot start another one afterwards. Main calls it.
func Stop() {
	stopLocal()
}

// serverURL returns the URL of the server the databases are made on: the one named by
// EnvVar, or this binary's own cluster, started on first use.
func serverURL() (string, error) {
	if v := os.Getenv(EnvVar); v == "off" {
		// A long run that must not spend its time on PostgreSQL (scripts/mutation, which
		// runs a package's tests once per planted bug) turns the PostgreSQL tests off.
		return "", fmt.Errorf("%w: %s=off", errUnavailable, EnvVar)
	} else if v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return "", fmt.Errorf("testpg: %s is not a postgres:// URL: %s", EnvVar, redact(v))
		}
		return v, nil
	}
	return startLocal()
}

// createDatabase makes database name on the server at admin and returns its URL.
func createDatabase(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	err = withAdmin(admin, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("testpg: creating a database on %s: %w", where(admin), err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// dropDatabase drops the database of dsn, ending its connections first: a test that
// leaves a pool open must not keep its database alive (WITH (FORCE) needs PostgreSQL 13).
func dropDatabase(admin, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	err = withAdmin(admin, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		return err
	})
	if err != nil {
		return fmt.Errorf("testpg: dropping database %s on %s: %w", name, where(admin), err)
	}
	return nil
}

// withAdmin runs f on a fresh connection to the server at admin, all within
// connectTimeout. A connection per call rather than one shared: parallel tests create
// databases at the same time, and a pgx.Conn serves one statement at a time.
func withAdmin(admin string, f func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within %v: %w", connectTimeout, err)
		}
		return err
	}
	defer conn.Close(context.Background())
	return f(ctx, conn)
}

// databaseName is a fresh database name that says which test it belongs to, for whoever
// looks at a server a crashed run left databases on.
func databaseName(testName string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	random := make([]byte, 8)
	rand.Read(random)
	return b.String() + "_" + hex.EncodeToString(random)
}

// where names the server of an admin URL in messages, with the variable it came from.
func where(admin string) string {
	if os.Getenv(EnvVar) == admin {
		return EnvVar + "=" + redact(admin)
	}
	return redact(admin)
}

// redact hides a password in a URL meant for a message.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}
