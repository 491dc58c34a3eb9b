package db

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func insertN(ctx context.Context, tx *Tx, prefix string, n int) error {
	for i := range n {
		u := User{ID: fmt.Sprintf("%s-%d", prefix, i), UserName: fmt.Sprintf("%s-%d", prefix, i), Active: true, Doc: []byte(`{}`)}
		if err := tx.InsertUser(ctx, &u); err != nil {
			return err
		}
	}
	return nil
}

func countUsers(t *testing.T, d *DB) int {
	t.Helper()
	var n int
	if err := d.rc.QueryRowContext(context.Background(), `SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A client that hangs up in the middle of its write must not fail anybody else's: the
// write runs to its end and the group commit it shares is kept.
func TestCancelledCallerFailsNoOtherWrite(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		const writers = 40
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				err := d.Write(ctx, func(tx *Tx) error {
					if i%2 == 0 {
						cancel() // the client goes away while its write runs
					}
					return insertN(ctx, tx, fmt.Sprint("w", i), 3)
				})
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := countUsers(t, d); got != writers*3 {
			t.Errorf("%d users committed, want %d", got, writers*3)
		}
	})
}

// A write that runs past its budget is rolled back alone, its caller gets ErrWriteBudget,
// and the writer is free again right after the budget: the write is not run a second
// time (as PostgreSQL's batches run again when one write fails after writing).
func TestWriteBudgetRollsBackOnlyTheSlowWrite(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		const budget = 100 * time.Millisecond
		d, _ := st.open(t, WithWriteBudget(budget))
		ctx := context.Background()
		slowDone := make(chan error, 1)
		started := make(chan struct{})
		start := sync.OnceFunc(func() { close(started) }) // a write may run twice (see Write)
		var slowTook time.Duration
		var runs atomic.Int32
		go func() {
			slowDone <- d.Write(ctx, func(tx *Tx) error {
				runs.Add(1)
				start()
				t0 := time.Now()
				defer func() { slowTook = time.Since(t0) }()
				for i := 0; time.Since(t0) < 5*time.Second; i++ { // a write that runs on and on
					u := User{ID: fmt.Sprint("slow-", i), UserName: fmt.Sprint("slow-", i), Active: true, Doc: []byte(`{}`)}
					if err := tx.InsertUser(ctx, &u); err != nil {
						return err
					}
				}
				return errors.New("the budget never stopped this write")
			})
		}()
		<-started
		if err := d.Write(ctx, func(tx *Tx) error { return insertN(ctx, tx, "fast", 1) }); err != nil {
			t.Fatalf("a write queued behind the slow one failed: %v", err)
		}
		err := <-slowDone
		if !errors.Is(err, ErrWriteBudget) {
			t.Fatalf("slow write: %v, want ErrWriteBudget", err)
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("the slow write ran %d times, want once", n)
		}
		if slowTook > budget+2*time.Second {
			t.Errorf("the slow write held the writer for %s with a budget of %s", slowTook, budget)
		}
		var slow, fast int
		d.rc.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id LIKE 'slow-%'`).Scan(&slow)
		d.rc.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id LIKE 'fast-%'`).Scan(&fast)
		if slow != 0 || fast != 1 {
			t.Errorf("after the budget: %d rows of the slow write kept (want 0), %d of the fast one (want 1)", slow, fast)
		}
	})
}

// load keeps a database's writer busy with small writes from several goroutines until
// stop is closed, the way a provisioning burst does.
func load(t *testing.T, d *DB, stop chan struct{}) (wait func() int64) {
	var wg sync.WaitGroup
	var n atomic.Int64
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := d.Write(ctx, func(tx *Tx) error { return insertN(ctx, tx, fmt.Sprintf("load%d-%d", g, i), 5) })
				if err != nil {
					t.Errorf("load write: %v", err)
					return
				}
				n.Add(1)
			}
		}()
	}
	return func() int64 { wg.Wait(); return n.Load() }
}

// An admin command in another process gets its write through while a server commits back
// to back, and what it does applies to the server's very next request.
func TestAdminWriteGetsThroughAFullSpeedWriter(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		// Budgets far above the default: under a starved CPU a small write can pass 500 ms,
		// and this test is about the admin's turn at the writer, not about budgets.
		server, path := st.open(t, WithWriteBudget(10*time.Second))
		ctx := context.Background()
		tok, secret, err := server.CreateToken(ctx, "okta", 0, "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := server.SetSCIMEnabled(ctx, true, "test"); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		wait := load(t, server, stop)
		defer func() { close(stop); wait() }()
		time.Sleep(200 * time.Millisecond) // the load is running

		// A second handle on the same file behaves as another process: its own SQLite
		// connections and its own open lock file.
		admin, err := Open(ctx, path, WithWriteBudget(10*time.Second))
		if err != nil {
			t.Fatalf("open while a server writes: %v", err)
		}
		defer admin.Close()
		for _, step := range []struct {
			name string
			do   func(context.Context) error
		}{
			{"token revoke", func(ctx context.Context) error { return admin.RevokeToken(ctx, tok.ID, "test") }},
			{"scim disable", func(ctx context.Context) error { return admin.SetSCIMEnabled(ctx, false, "test") }},
		} {
			// Generous against a loaded test machine; without yielding, the command waits
			// for SQLite's busy handler to find a gap between commits, which takes seconds.
			sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			t0 := time.Now()
			err := step.do(sctx)
			cancel()
			if err != nil {
				t.Fatalf("%s while the server writes: %v (after %s)", step.name, err, time.Since(t0).Round(time.Millisecond))
			}
			t.Logf("%s took %s under load", step.name, time.Since(t0).Round(time.Millisecond))
		}
		a, err := server.Authenticate(ctx, secret, time.Now())
		if err != nil || !a.Revoked || a.SCIMEnabled {
			t.Errorf("the server's next authentication: %+v, %v; want revoked and SCIM off", a, err)
		}
	})
}

// Opening a database that needs no migration writes nothing and takes no lock: admin
// commands and read-only commands work while another process holds the write lock.
//
// On PostgreSQL the other process holds the instances' write lock (the advisory lock every
// write transaction takes).
func TestOpenUpToDateTakesNoLock(t *testing.T) {
	eachStore(t, testOpenUpToDateTakesNoLock)
}

func testOpenUpToDateTakesNoLock(t *testing.T, st store) {
	d, path := st.open(t)
	ctx := context.Background()
	if _, _, err := d.CreateToken(ctx, "okta", 0, "test"); err != nil {
		t.Fatal(err)
	}
	d.Close()

	if IsPostgres(path) {
		holder, err := openPostgres(path, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
		if _, err := holder.Exec(`SELECT pg_advisory_lock(?)`, pgLockKey); err != nil { // held by the pool's one connection
			t.Fatal(err)
		}
	} else {
		holder, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
		tx, err := holder.Begin() // holds the write lock until the end of the test
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`UPDATE settings SET value = value`); err != nil {
			t.Fatal(err)
		}
	}

	octx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	d2, err := Open(octx, path)
	if err != nil {
		t.Fatalf("open while another process holds the write lock: %v", err)
	}
	defer d2.Close()
	if toks, err := d2.Tokens(octx); err != nil || len(toks) != 1 {
		t.Fatalf("token list while the write lock is held: %v, %v", toks, err)
	}
}

// A database written by a newer scimdesk is refused with a clear error, and nothing is
// written to it.
func TestNewerSchemaIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, path := st.open(t)
		ctx := context.Background()
		if err := d.Write(ctx, func(tx *Tx) error {
			_, err := tx.q.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES ('migrations/9999_from_the_future.sql', 0)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		d.Close()
		before := snapshotFiles(t, path)
		_, err := Open(ctx, path)
		if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "9999_from_the_future") {
			t.Fatalf("open: %v, want ErrNewerSchema naming the migration", err)
		}
		if after := snapshotFiles(t, path); after != before {
			t.Errorf("refusing the database changed it:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// snapshotFiles describes the database's files by size and content hash.
func snapshotFiles(t *testing.T, path string) string {
	var b strings.Builder
	for _, p := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%d:%x ", filepath.Base(p), len(data), data[:min(len(data), 0)])
		fmt.Fprintf(&b, "%x ", sumBytes(data))
	}
	return b.String()
}

func sumBytes(b []byte) uint64 {
	var h uint64 = 14695981039346656037
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// A database file, WAL or shared-memory file readable by others is made private again at
// open, with a warning in the log.
func TestOpenFixesFileModes(t *testing.T) {
	d, path := openTest(t)
	ctx := context.Background()
	if _, _, err := d.CreateToken(ctx, "okta", 0, "test"); err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, path) // keeps -wal and -shm in place
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	files := []string{path, path + "-wal", path + "-shm"}
	for _, p := range files {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	d2, err := Open(ctx, path, WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %s after open, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
		if !strings.Contains(log.String(), filepath.Base(p)+" ") && !strings.Contains(log.String(), filepath.Base(p)+"\"") {
			t.Errorf("no warning names %s: %s", filepath.Base(p), log.String())
		}
	}
}

// Every connection that commits or checkpoints syncs fully: an acknowledged write is on
// disk even after a power cut.
func TestCommitsSyncFully(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	for name, pool := range map[string]*sql.DB{"writer": d.w, "checkpointer": d.cp} {
		var level int
		if err := pool.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level); err != nil {
			t.Fatal(err)
		}
		if level != 2 {
			t.Errorf("%s: synchronous = %d, want 2 (FULL)", name, level)
		}
	}
}

// Under sustained writes, with readers busy beside them, the WAL stays near its limit,
// and once the writes stop it is truncated.
func TestWALStaysBounded(t *testing.T) {
	const limit = 1 << 20
	d, path := openTest(t, func(o *options) { o.walLimit = limit })
	stop := make(chan struct{})
	wait := load(t, d, stop)
	readers := make(chan struct{})
	go func() { // readers that keep old snapshots alive, as SCIM lookups do
		defer close(readers)
		for {
			select {
			case <-stop:
				return
			default:
				d.ListUsers(context.Background(), Where{}, Page{Limit: 50})
			}
		}
	}()
	var peak int64
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(path + "-wal"); err == nil {
			peak = max(peak, fi.Size())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	writes := wait()
	<-readers
	t.Logf("%d writes, peak WAL %d KiB (limit %d KiB)", writes, peak>>10, limit>>10)
	if peak > 8*limit {
		t.Errorf("the WAL reached %d bytes with a limit of %d", peak, limit)
	}
	idle := time.Now().Add(walIdleAfter + 3*time.Second)
	for {
		fi, err := os.Stat(path + "-wal")
		if err == nil && fi.Size() == 0 {
			break
		}
		if time.Now().After(idle) {
			t.Fatalf("the WAL is still %d bytes after the writer went idle", fi.Size())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A list query past its read budget stops with ErrReadBudget, and while list queries fill
// their slots, authentication, point reads and unfiltered pages still answer.
func TestReadBudgetAndAuthenticationStayFree(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t, WithReadBudget(time.Second))
		ctx := context.Background()
		_, secret, err := d.CreateToken(ctx, "okta", 0, "test")
		if err != nil {
			t.Fatal(err)
		}
		// A condition that takes far longer than the budget to evaluate.
		slow := Where{SQL: `(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c) > 0`}
		if err := d.Write(ctx, func(tx *Tx) error { return insertN(ctx, tx, "u", 3) }); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		errs := make(chan error, 1000)
		for range 8 { // more heavy lists than there are slots, again and again
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, _, err := d.ListUsers(ctx, slow, Page{Limit: 100})
					errs <- err
				}
			}()
		}
		time.Sleep(50 * time.Millisecond)
		deadline := time.Now().Add(2500 * time.Millisecond)
		for time.Now().Before(deadline) {
			a, err := d.Authenticate(ctx, secret, time.Now())
			if err != nil || !a.Found {
				t.Fatalf("authenticate while heavy lists run: %+v, %v", a, err)
			}
			if _, err := d.UserByID(ctx, "u-1"); err != nil {
				t.Fatalf("get by id while heavy lists run: %v", err)
			}
			// A page without a filter needs a millisecond; queued behind the heavy lists it
			// would wait for most of their budget.
			t0 := time.Now()
			if _, total, err := d.ListUsers(ctx, Where{}, Page{Limit: 1}); err != nil || total != 3 {
				t.Fatalf("an unfiltered page while heavy lists run: %d users, %v", total, err)
			}
			if waited := time.Since(t0); waited > 500*time.Millisecond {
				t.Fatalf("an unfiltered page waited %s behind heavy lists", waited)
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, ErrReadBudget) {
				t.Errorf("heavy list: %v, want ErrReadBudget", err)
			}
		}
	})
}

// A write that finishes, but only after its budget, is rolled back all the same: the rule
// does not depend on whether the write happened to run another statement.
func TestWriteFinishingLateIsRolledBack(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t, WithWriteBudget(50*time.Millisecond))
		ctx := context.Background()
		err := d.Write(ctx, func(tx *Tx) error {
			if err := insertN(ctx, tx, "late", 2); err != nil {
				return err
			}
			time.Sleep(120 * time.Millisecond)
			return nil
		})
		if !errors.Is(err, ErrWriteBudget) {
			t.Fatalf("late write: %v, want ErrWriteBudget", err)
		}
		if n := countUsers(t, d); n != 0 {
			t.Errorf("%d users of the late write kept", n)
		}
	})
}
