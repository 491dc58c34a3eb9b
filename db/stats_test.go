package db

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// TestMonitoringCounts checks the counts a metrics scrape reads: groups, setup codes that
// could still be redeemed (not used, not expired, not locked by wrong guesses) and the
// sizes of the database file and its WAL.
func TestMonitoringCounts(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d, path := st.open(t)
		if n, err := d.CountGroups(ctx); err != nil || n != 0 {
			t.Fatalf("groups in a new database: %d, %v", n, err)
		}
		for _, id := range []string{"g1", "g2"} {
			g := Group{ID: id, DisplayName: id, Doc: []byte(`{}`)}
			if err := d.Write(ctx, func(tx *Tx) error { return tx.InsertGroup(ctx, &g) }); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := d.CountGroups(ctx); err != nil || n != 2 {
			t.Errorf("groups: %d, %v; want 2", n, err)
		}

		alice := addUser(t, d, "u-alice", "alice@example.com", "alice@example.com", true)
		bob := addUser(t, d, "u-bob", "bob@example.com", "bob@example.com", true)
		carol := addUser(t, d, "u-carol", "carol@example.com", "carol@example.com", true)
		codes := map[string]string{}
		for _, u := range []User{alice, bob, carol} {
			_, code, err := d.IssueSetupCode(ctx, u.ID, PurposeSetup, "test")
			if err != nil {
				t.Fatal(err)
			}
			codes[u.ID] = code
		}
		now := time.Now()
		if n, err := d.CountOutstandingSetupCodes(ctx, now); err != nil || n != 3 {
			t.Fatalf("outstanding codes: %d, %v; want 3", n, err)
		}
		// Alice redeems hers; Bob's is locked by wrong emails.
		err := d.RedeemSetupCode(ctx, "alice@example.com", codes[alice.ID], PurposeSetup, now, func(tx *Tx, u User) error {
			return tx.InsertUserKey(ctx, u.Seq, UserKey{Alg: "x25519", PublicKey: []byte("pub"), Passphrase: `{"p":1}`, Recovery: `{"r":1}`})
		})
		if err != nil {
			t.Fatal(err)
		}
		for range SetupCodeAttempts {
			d.RedeemSetupCode(ctx, "mallory@example.com", codes[bob.ID], PurposeSetup, now, func(*Tx, User) error { return nil })
		}
		if n, err := d.CountOutstandingSetupCodes(ctx, now); err != nil || n != 1 {
			t.Errorf("outstanding codes after one use and one lock-out: %d, %v; want 1 (Carol's)", n, err)
		}
		if n, _ := d.CountOutstandingSetupCodes(ctx, now.Add(SetupCodeTTL+time.Minute)); n != 0 {
			t.Errorf("outstanding codes after they expired: %d, want 0", n)
		}

		dbBytes, walBytes, err := d.FileSizes()
		if err != nil {
			t.Fatal(err)
		}
		if d.pg {
			var size int64
			d.r.QueryRow(`SELECT pg_database_size(current_database())`).Scan(&size)
			if dbBytes != size || walBytes != 0 || size == 0 {
				t.Errorf("FileSizes = %d, %d; the database is %d bytes, and has no WAL of its own", dbBytes, walBytes, size)
			}
			return
		}
		fi, _ := os.Stat(path)
		wi, _ := os.Stat(path + "-wal")
		if dbBytes != fi.Size() || walBytes != wi.Size() || walBytes == 0 {
			t.Errorf("FileSizes = %d, %d; the files are %d and %d bytes", dbBytes, walBytes, fi.Size(), wi.Size())
		}
	})
}

// TestWriterStatsCount holds the writer with one write while others queue, and checks
// that the writes waiting are counted as pending, and that once done the batches and
// their sizes and hold times add up.
func TestWriterStatsCount(t *testing.T) {
	eachStore(t, func(t *testing.T, engine store) {
		ctx := context.Background()
		d, _ := engine.open(t)
		before := d.WriterStats()
		release := make(chan struct{})
		unblock := sync.OnceFunc(func() { close(release) })
		defer unblock() // a failing test must not leave the writer held, or Close would wait for ever
		holding := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			hold := sync.OnceFunc(func() { close(holding) }) // a write may run twice (see Write)
			d.Write(ctx, func(tx *Tx) error {
				hold()
				<-release
				return nil
			})
		}()
		<-holding
		const queued = 5
		for range queued {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := d.Write(ctx, func(tx *Tx) error { return nil }); err != nil {
					t.Error(err)
				}
			}()
		}
		for deadline := time.Now().Add(10 * time.Second); d.WriterStats().Pending != queued+1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("pending writes %d, want %d", d.WriterStats().Pending, queued+1)
			}
		}
		unblock()
		wg.Wait()

		st := d.WriterStats()
		if st.Pending != 0 {
			t.Errorf("pending after all writes returned: %d", st.Pending)
		}
		if got := st.Writes - before.Writes; got != queued+1 {
			t.Errorf("writes counted: %d, want %d", got, queued+1)
		}
		batches := st.Batches - before.Batches
		if batches < 2 || batches > queued+1 { // the held write alone, then the others in one batch or more
			t.Errorf("%d batches for %d writes", batches, queued+1)
		}
		var holds, sizes int64
		for i := range st.HoldCounts {
			holds += st.HoldCounts[i] - before.HoldCounts[i]
		}
		for i := range st.BatchCounts {
			sizes += st.BatchCounts[i] - before.BatchCounts[i]
		}
		if holds != batches || sizes != batches {
			t.Errorf("%d batches, but %d in the hold histogram and %d in the size histogram", batches, holds, sizes)
		}
		if st.HoldTotal <= before.HoldTotal || st.LongestHold <= 0 {
			t.Errorf("hold total %s, longest %s", st.HoldTotal, st.LongestHold)
		}
	})
}
