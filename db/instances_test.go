package db

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// openTwo opens one new database twice: two processes (two instances on PostgreSQL).
func openTwo(t *testing.T, st store) (*DB, *DB) {
	t.Helper()
	a, loc := st.open(t)
	b, err := Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// TestCodeRedeemedOnceAcrossInstances: the same setup code redeemed at the same moment
// through two instances, many times over: exactly one redemption wins, the user gets one
// key, and the others are told the code is used.
func TestCodeRedeemedOnceAcrossInstances(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		a, b := openTwo(t, st)
		for round := range 5 {
			u := addUser(t, a, fmt.Sprintf("u-%d", round), fmt.Sprintf("user%d@example.com", round), fmt.Sprintf("user%d@example.com", round), true)
			_, code, err := a.IssueSetupCode(ctx, u.ID, PurposeSetup, "cli:test")
			if err != nil {
				t.Fatal(err)
			}
			const tries = 8
			var wins, refusals int
			var mu sync.Mutex
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range tries {
				d := []*DB{a, b}[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					err := d.RedeemSetupCode(ctx, u.Email, code, PurposeSetup, time.Now(), func(tx *Tx, u User) error {
						return tx.InsertUserKey(ctx, u.Seq, UserKey{Alg: "x25519", PublicKey: []byte(fmt.Sprint("pub", i)), Passphrase: `{}`, Recovery: `{}`})
					})
					mu.Lock()
					defer mu.Unlock()
					var ce *CodeError
					switch {
					case err == nil:
						wins++
					case errors.As(err, &ce):
						refusals++
					default:
						t.Errorf("round %d: redeem: %v", round, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if wins != 1 || refusals != tries-1 {
				t.Fatalf("round %d: %d redemptions won and %d were refused; want exactly one winner", round, wins, refusals)
			}
			if _, err := b.UserKey(ctx, u.ID); err != nil {
				t.Fatalf("round %d: the winner's key: %v", round, err)
			}
		}
	})
}

// TestMembershipIntegrityAcrossInstances: one instance deletes users while another adds
// them to a group: no membership outlives its user, and every member the group holds is a
// user that exists.
func TestMembershipIntegrityAcrossInstances(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		a, b := openTwo(t, st)
		var ids []string
		for i := range 60 {
			ids = append(ids, addUser(t, a, fmt.Sprintf("m-%d", i), fmt.Sprintf("m%d", i), "", true).ID)
		}
		g := Group{ID: "g-all", DisplayName: "All", Doc: []byte(`{}`)}
		if err := a.Write(ctx, func(tx *Tx) error { return tx.InsertGroup(ctx, &g) }); err != nil {
			t.Fatal(err)
		}
		added := map[string]bool{}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < len(ids); i += 2 {
				if err := a.Write(ctx, func(tx *Tx) error { return tx.DeleteUser(ctx, ids[i]) }); err != nil {
					t.Errorf("delete %s: %v", ids[i], err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for _, id := range ids {
				// A user deleted a moment before is refused (SCIM: no such member).
				err := b.Write(ctx, func(tx *Tx) error { _, err := tx.AddMembersN(ctx, g.Seq, []string{id}); return err })
				var unknown *UnknownUsersError
				switch {
				case err == nil:
					added[id] = true
				case !errors.As(err, &unknown):
					t.Errorf("add %s: %v", id, err)
				}
			}
		}()
		wg.Wait()
		m, err := b.MembersOfGroups(ctx, []int64{g.Seq})
		if err != nil {
			t.Fatal(err)
		}
		for _, member := range m[g.Seq] {
			if _, err := a.UserByID(ctx, member.UserID); err != nil {
				t.Errorf("member %s of the group: %v", member.UserID, err)
			}
		}
		var orphans int
		if err := a.r.QueryRow(`SELECT count(*) FROM group_members m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.seq = m.user_seq)`).Scan(&orphans); err != nil || orphans != 0 {
			t.Errorf("memberships without a user: %d (%v)", orphans, err)
		}
		want := 0
		for i := 1; i < len(ids); i += 2 { // the users not deleted, and added
			if added[ids[i]] {
				want++
			}
		}
		if len(m[g.Seq]) != want || want == 0 {
			t.Errorf("the group holds %d members, want the %d users added and still there", len(m[g.Seq]), want)
		}
	})
}
