package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T, opt ...Option) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	d, err := Open(context.Background(), path, opt...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, path
}

func TestOpenCreates0600AndReopens(t *testing.T) {
	eachStore(t, testOpenCreates0600AndReopens)
}

func testOpenCreates0600AndReopens(t *testing.T, engine store) {
	d, path := engine.open(t)
	if !d.Postgres() {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", st.Mode().Perm())
		}
	}
	ctx := context.Background()
	if err := d.SetSCIMEnabled(ctx, true, "t"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// Reopening applies no migration twice and keeps the data.
	d2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if on, _ := d2.SCIMEnabled(ctx); !on {
		t.Error("setting lost on reopen")
	}
}

// TestFirstOpensAtOnce opens new databases from several handles at the same moment, as a
// server and an admin command started together would: every open must succeed, though
// SQLite answers one of two handles switching a new file to WAL "busy" without waiting.
//
// On PostgreSQL these are instances starting together on a new database: the migrations
// must run once, under the instances' lock, and every instance must open.
func TestFirstOpensAtOnce(t *testing.T) {
	eachStore(t, testFirstOpensAtOnce)
}

func testFirstOpensAtOnce(t *testing.T, engine store) {
	ctx := context.Background()
	rounds := 25
	if engine.Name == "postgres" {
		rounds = 5 // each round is a new database on the server
	}
	for round := range rounds {
		path := engine.Location(t)
		handles := make([]*DB, 4)
		errs := make([]error, len(handles))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range handles {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; handles[i], errs[i] = Open(ctx, path) }()
		}
		close(start)
		wg.Wait()
		for _, h := range handles {
			if h != nil {
				h.Close()
			}
		}
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

func insertUser(t *testing.T, d *DB, id, name string) User {
	t.Helper()
	u := User{ID: id, UserName: name, Active: true, Doc: []byte(`{"userName":"` + name + `"}`)}
	err := d.Write(context.Background(), func(tx *Tx) error { return tx.InsertUser(context.Background(), &u) })
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUserNameUniqueUnicodeCaseInsensitive(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		insertUser(t, d, "1", "Åsa@Example.com")
		u := User{ID: "2", UserName: "åSA@example.COM", Doc: []byte(`{}`)}
		err := d.Write(context.Background(), func(tx *Tx) error { return tx.InsertUser(context.Background(), &u) })
		if !errors.Is(err, ErrConflict) {
			t.Errorf("insert of a case variant: %v, want ErrConflict", err)
		}
		got, err := d.UserByEmail(context.Background(), "ÅSA@EXAMPLE.COM")
		if err != nil || got.ID != "1" {
			t.Errorf("UserByEmail: %v %v", got.ID, err)
		}
	})
}

func TestDeleteUserCascades(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		ctx := context.Background()
		u := insertUser(t, d, "u1", "a@x")
		insertUser(t, d, "u2", "b@x")
		g := Group{ID: "g1", DisplayName: "G", Doc: []byte(`{}`)}
		err := d.Write(ctx, func(tx *Tx) error {
			if err := tx.InsertGroup(ctx, &g); err != nil {
				return err
			}
			return tx.AddMembers(ctx, g.Seq, []string{"u1", "u2", "u1"})
		})
		if err != nil {
			t.Fatal(err)
		}
		m, _ := d.MembersOfGroups(ctx, []int64{g.Seq})
		if len(m[g.Seq]) != 2 {
			t.Fatalf("members %v", m)
		}
		var unknown *UnknownUsersError
		err = d.Write(ctx, func(tx *Tx) error { return tx.AddMembers(ctx, g.Seq, []string{"nobody"}) })
		if !errors.As(err, &unknown) {
			t.Errorf("unknown member: %v", err)
		}
		if err := d.Write(ctx, func(tx *Tx) error { return tx.DeleteUser(ctx, u.ID) }); err != nil {
			t.Fatal(err)
		}
		m, _ = d.MembersOfGroups(ctx, []int64{g.Seq})
		if len(m[g.Seq]) != 1 || m[g.Seq][0].UserID != "u2" {
			t.Errorf("after delete, members %v", m[g.Seq])
		}
		if _, err := d.UserByID(ctx, "u1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted user: %v", err)
		}
	})
}

func TestTokensAndAuthenticate(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		ctx := context.Background()
		tok, secret, err := d.CreateToken(ctx, "okta", 24*time.Hour, "t")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		a, _ := d.Authenticate(ctx, secret, now)
		if !a.Found || a.Revoked || a.Expired || a.SCIMEnabled || a.TokenID != tok.ID {
			t.Errorf("fresh token: %+v", a)
		}
		if a, _ := d.Authenticate(ctx, secret, now.Add(25*time.Hour)); !a.Expired {
			t.Error("not expired after its ttl")
		}
		if a, _ := d.Authenticate(ctx, secret+"x", now); a.Found {
			t.Error("a wrong secret was found")
		}
		if tok.Status(now) != TokenExpiring || tok.Status(now.Add(-30*24*time.Hour)) != TokenActive || tok.Status(now.Add(25*time.Hour)) != TokenExpired {
			t.Error("token status over time")
		}
		if err := d.RevokeToken(ctx, tok.ID, "t"); err != nil {
			t.Fatal(err)
		}
		if a, _ := d.Authenticate(ctx, secret, now); !a.Revoked {
			t.Error("not revoked")
		}
		// The revoke is in the audit log, as the newest event: who revoked which token. A
		// second revoke of the same token, and one of an unknown token, add nothing.
		revokeEvents := func() []Event {
			t.Helper()
			evs, err := d.EventsBefore(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var out []Event
			for _, e := range evs {
				if e.Kind == "token.revoke" {
					out = append(out, e)
				}
			}
			if len(evs) == 0 || evs[0].Kind != "token.revoke" {
				t.Errorf("newest event is not the revoke: %+v", evs)
			}
			return out
		}
		if evs := revokeEvents(); len(evs) != 1 || evs[0].TokenID != tok.ID || evs[0].Agent != "t" || evs[0].Outcome != OutcomeOK || !strings.Contains(evs[0].Summary, tok.ID) {
			t.Errorf("revoke events: %+v", evs)
		}
		if err := d.RevokeToken(ctx, tok.ID, "t"); err != nil {
			t.Errorf("revoke again: %v", err)
		}
		if err := d.RevokeToken(ctx, "tok_nope", "t"); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoke unknown: %v", err)
		}
		if evs := revokeEvents(); len(evs) != 1 {
			t.Errorf("revoke events after revoking again and an unknown token: %+v", evs)
		}
		if err := d.RecordTokenUses(ctx, []TokenUse{{TokenID: tok.ID, At: now, Addr: "10.0.0.1", Agent: "Okta"}}); err != nil {
			t.Fatal(err)
		}
		list, _ := d.Tokens(ctx)
		if len(list) != 1 || list[0].LastUsedAddr != "10.0.0.1" || list[0].LastUsedAgent != "Okta" {
			t.Errorf("tokens: %+v", list)
		}
	})
}

func TestEventsTail(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if err := d.InsertEvent(ctx, Event{Kind: k}); err != nil {
			t.Fatal(err)
		}
	}
	newest, _ := d.EventsBefore(ctx, 0, 2)
	if len(newest) != 2 || newest[0].Kind != "c" {
		t.Fatalf("EventsBefore: %+v", newest)
	}
	after, _ := d.EventsAfter(ctx, newest[1].ID, 10)
	if len(after) != 1 || after[0].Kind != "c" {
		t.Errorf("EventsAfter: %+v", after)
	}
}

func TestUserQueryStatus(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		ctx := context.Background()
		// One user in each state, and one deactivated user who had set a key up: deactivated
		// wins over ready. The search finds text in userName, email and display name.
		insertUser(t, d, "1", "pending@x")
		u := insertUser(t, d, "2", "gone@x")
		u.Active = false
		d.Write(ctx, func(tx *Tx) error { return tx.UpdateUser(ctx, &u) })
		ready := addUser(t, d, "3", "ready@x", "Mail.Ready@Example.org", true)
		giveKey(t, d, ready)
		goneKeyed := addUser(t, d, "4", "gone-keyed@x", "", true)
		giveKey(t, d, goneKeyed)
		goneKeyed.Active, goneKeyed.DisplayName = false, "Ötzi Display"
		d.Write(ctx, func(tx *Tx) error { return tx.UpdateUser(ctx, &goneKeyed) })

		c, _ := d.CountUsersByStatus(ctx)
		if c.Pending != 1 || c.Deactivated != 2 || c.Ready != 1 || c.Total() != 4 {
			t.Errorf("counts %+v", c)
		}
		for _, tc := range []struct {
			q    UserQuery
			want string // ids, in list order
		}{
			{UserQuery{Status: StatusPending}, "1"},
			{UserQuery{Status: StatusDeactivated}, "2 4"},
			{UserQuery{Status: StatusReady}, "3"},
			{UserQuery{}, "1 2 3 4"},
			{UserQuery{Search: "GONE"}, "2 4"},
			{UserQuery{Search: " mail.ready@example "}, "3"},
			{UserQuery{Search: "ötzi"}, "4"},
			{UserQuery{Status: StatusDeactivated, Search: "keyed"}, "4"},
			{UserQuery{Status: StatusReady, Search: "gone"}, ""},
		} {
			w, err := tc.q.Where()
			if err != nil {
				t.Fatal(err)
			}
			users, n, err := d.ListUsers(ctx, w, Page{Limit: 10})
			var ids []string
			for _, u := range users {
				ids = append(ids, u.ID)
			}
			if got := strings.Join(ids, " "); err != nil || got != tc.want || n != len(ids) {
				t.Errorf("%+v: %q (total %d) %v, want %q", tc.q, got, n, err, tc.want)
			}
		}
		if _, err := (UserQuery{Status: "bogus"}).Where(); err == nil {
			t.Error("bogus status accepted")
		}
	})
}

// TestGroupCommitIsolatesFailures runs many concurrent writes, some of which fail halfway
// (after writing, on a statement the database refuses, by a panic, on a read the database
// refuses): each failed write leaves nothing behind, and every successful one is
// committed once, even when they share a commit. On PostgreSQL a batch runs first without
// a savepoint per write and is run again with them when a write fails after writing; each
// round starts optimistic again, so that both ways are taken.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		ctx := context.Background()
		if err := d.Write(ctx, func(tx *Tx) error {
			return tx.InsertUser(ctx, &User{ID: "taken", UserName: "taken", Doc: []byte(`{}`)})
		}); err != nil {
			t.Fatal(err)
		}
		const rounds, n = 4, 50
		ok := 0
		for round := range rounds {
			d.safeLeft = 0 // the writer is idle: its last batch answered before this
			errs := make(chan error, n)
			for j := range n {
				i := round*n + j
				go func() {
					errs <- d.Write(ctx, func(tx *Tx) error {
						u := User{ID: fmt.Sprintf("id-%d", i), UserName: fmt.Sprintf("user-%d", i), Active: true, Doc: []byte(`{}`)}
						if i%10 == 9 {
							var x int
							return tx.q.QueryRowContext(ctx, `SELECT no_such_column FROM users`).Scan(&x)
						}
						if err := tx.InsertEvent(ctx, Event{Kind: "test", Subject: u.UserName}); err != nil {
							return err
						}
						if err := tx.InsertUser(ctx, &u); err != nil {
							return err
						}
						switch i % 10 {
						case 3:
							return errors.New("fails after writing")
						case 5:
							return tx.InsertUser(ctx, &User{ID: fmt.Sprintf("dup-%d", i), UserName: "TAKEN", Doc: []byte(`{}`)})
						case 7:
							panic("a bug in one write")
						}
						return nil
					})
				}()
			}
			for range n {
				if err := <-errs; err == nil {
					ok++
				}
			}
		}
		if want := rounds * n * 6 / 10; ok != want {
			t.Errorf("%d writes succeeded, want %d", ok, want)
		}
		_, total, err := d.ListUsers(ctx, Where{}, Page{Limit: 1})
		if err != nil || total != ok+1 {
			t.Errorf("%d users committed, want %d (%v)", total, ok+1, err)
		}
		events, _ := d.EventsBefore(ctx, 0, 1000)
		if len(events) != ok {
			t.Errorf("%d events committed, want %d", len(events), ok)
		}
		for _, e := range events {
			var i int
			fmt.Sscanf(e.Subject, "user-%d", &i)
			if i%10 == 3 || i%10 == 5 || i%10 == 7 || i%10 == 9 {
				t.Errorf("event of a failed write survived: %s", e.Subject)
			}
		}
	})
}

func TestWriteAfterClose(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		d.Close()
		if err := d.Write(context.Background(), func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
			t.Errorf("write after close: %v", err)
		}
	})
}

// TestDeepPagesThroughRankIndex checks that deep pages found through the in-memory rank
// index are exactly the pages the plain offset query returns, also after deletions.
func TestDeepPagesThroughRankIndex(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t, WithWriteBudget(time.Minute)) // seeds thousands of users in one write
		ctx := context.Background()
		const n = rankThreshold + 700
		err := d.Write(ctx, func(tx *Tx) error {
			for i := range n {
				u := User{ID: fmt.Sprint(i), UserName: fmt.Sprintf("u%05d", i), Active: true, Doc: []byte(`{}`)}
				if err := tx.InsertUser(ctx, &u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		check := func(label string, wantTotal int) {
			t.Helper()
			for _, desc := range []bool{false, true} {
				for _, off := range []int{rankThreshold, rankThreshold + 1, n - 150, n - 1, n + 5} {
					d.rank.mu.Lock()
					d.rank.built = time.Time{} // allow a rebuild now
					d.rank.mu.Unlock()
					fast, total, err := d.ListUsers(ctx, Where{}, Page{Offset: off, Limit: 100, Desc: desc})
					if err != nil || total != wantTotal {
						t.Fatalf("%s: total %d, want %d (%v)", label, total, wantTotal, err)
					}
					_, pageSQL, args := listUsersSQL(Where{}, Page{Offset: off, Limit: 100, Desc: desc}, false)
					rows, err := d.r.QueryContext(ctx, pageSQL, args...)
					if err != nil {
						t.Fatal(err)
					}
					var slow []int64
					for rows.Next() {
						var seq int64
						rows.Scan(&seq)
						slow = append(slow, seq)
					}
					rows.Close()
					var got []int64
					for _, u := range fast {
						got = append(got, u.Seq)
					}
					if fmt.Sprint(got) != fmt.Sprint(slow) {
						t.Errorf("%s offset %d desc %v: rank index gave %v..., offset query %v...", label, off, desc, head(got), head(slow))
					}
				}
			}
		}
		check("fresh", n)
		err = d.Write(ctx, func(tx *Tx) error {
			for _, id := range []string{"0", "5", "2100", fmt.Sprint(n - 1)} {
				if err := tx.DeleteUser(ctx, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		check("after deletes", n-4)
	})
}

func head[T any](s []T) []T { return s[:min(3, len(s))] }

// inOneBatch runs fns as separate writes that the writer takes as one batch, in this
// order: the writer is held by a write of its own while they queue, one after another.
func inOneBatch(t *testing.T, d *DB, fns ...func(tx *Tx) error) []error {
	t.Helper()
	ctx := context.Background()
	held, release := make(chan struct{}), make(chan struct{})
	hold := sync.OnceFunc(func() { close(held) }) // a write may run twice (see Write)
	holder := make(chan error, 1)
	go func() {
		holder <- d.Write(ctx, func(*Tx) error { hold(); <-release; return nil })
	}()
	<-held
	errs := make([]chan error, len(fns))
	for i, fn := range fns {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- d.Write(ctx, fn) }()
		// Queued (its send to the writer follows at once) before the next one starts.
		deadline := time.Now().Add(10 * time.Second)
		for d.WriterStats().Waiting != i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("write %d never queued", i)
			}
			runtime.Gosched()
		}
	}
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	out := make([]error, len(fns))
	for i := range errs {
		out[i] = <-errs[i]
	}
	return out
}

// TestFailedWriteInABatchIsUndoneAlone: in one batch, a write that fails (after writing,
// on a statement the database refuses, on a read the database refuses, first, between or
// last) gets its own error and leaves nothing; the others are committed once. On
// PostgreSQL this is the batch run first without savepoints, then again with them.
func TestFailedWriteInABatchIsUndoneAlone(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		ctx := context.Background()
		insert := func(name string) func(tx *Tx) error {
			return func(tx *Tx) error {
				if err := tx.InsertUser(ctx, &User{ID: name, UserName: name, Doc: []byte(`{}`)}); err != nil {
					return err
				}
				return tx.InsertEvent(ctx, Event{Kind: "test", Subject: name})
			}
		}
		errOwn := errors.New("fails after writing")
		failsAfterWriting := func(name string) func(tx *Tx) error {
			return func(tx *Tx) error {
				if err := insert(name)(tx); err != nil {
					return err
				}
				return errOwn
			}
		}
		readRefused := func(tx *Tx) error {
			var x int
			return tx.q.QueryRowContext(ctx, `SELECT no_such_column FROM users`).Scan(&x)
		}
		plainInsert := func(name string) func(tx *Tx) error { // no event: nothing is written at the commit
			return func(tx *Tx) error {
				return tx.InsertUser(ctx, &User{ID: name, UserName: name, Doc: []byte(`{}`)})
			}
		}
		isOwn := func(err error) bool { return errors.Is(err, errOwn) }
		isConflict := func(err error) bool { return errors.Is(err, ErrConflict) }
		isRefused := func(err error) bool { return err != nil && strings.Contains(err.Error(), "no_such_column") }
		if err := d.Write(ctx, insert("taken")); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			fns    []func(tx *Tx) error
			failed map[int]func(error) bool
			stored []string
		}{
			{"fails after writing, between", []func(tx *Tx) error{insert("a1"), failsAfterWriting("a2"), insert("a3")},
				map[int]func(error) bool{1: isOwn}, []string{"a1", "a3"}},
			{"fails after writing, first", []func(tx *Tx) error{failsAfterWriting("b1"), insert("b2")},
				map[int]func(error) bool{0: isOwn}, []string{"b2"}},
			{"conflict, between", []func(tx *Tx) error{insert("c1"), insert("TAKEN"), insert("c3")},
				map[int]func(error) bool{1: isConflict}, []string{"c1", "c3"}},
			{"conflict, last", []func(tx *Tx) error{insert("d1"), insert("d2"), insert("Taken")},
				map[int]func(error) bool{2: isConflict}, []string{"d1", "d2"}},
			{"read refused, between", []func(tx *Tx) error{insert("e1"), readRefused, insert("e3")},
				map[int]func(error) bool{1: isRefused}, []string{"e1", "e3"}},
			{"read refused, last", []func(tx *Tx) error{insert("g1"), insert("g2"), readRefused},
				map[int]func(error) bool{2: isRefused}, []string{"g1", "g2"}},
			{"read refused, last, nothing written at the commit", []func(tx *Tx) error{plainInsert("f1"), plainInsert("f2"), readRefused},
				map[int]func(error) bool{2: isRefused}, []string{"f1", "f2"}},
		} {
			d.safeLeft = 0 // the writer is idle: its last batch answered before this
			errs := inOneBatch(t, d, tc.fns...)
			for i, err := range errs {
				if want := tc.failed[i]; want != nil && !want(err) || want == nil && err != nil {
					t.Errorf("%s: write %d: %v", tc.name, i, err)
				}
			}
			for _, name := range tc.stored {
				if _, err := d.UserByID(ctx, name); err != nil {
					t.Errorf("%s: %s not stored: %v", tc.name, name, err)
				}
			}
		}
		_, total, err := d.ListUsers(ctx, Where{}, Page{Limit: 1})
		if want := 1 + 2 + 1 + 2 + 2 + 2 + 2 + 2; err != nil || total != want {
			t.Errorf("%d users in all, want %d (%v)", total, want, err)
		}
		events, _ := d.EventsBefore(ctx, 0, 1000)
		if want := 1 + 2 + 1 + 2 + 2 + 2 + 2; len(events) != want {
			t.Errorf("%d events in all, want %d: each successful write's, once", len(events), want)
		}
	})
}
