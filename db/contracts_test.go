package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The db API's promises that its callers (the SCIM server, the console, the CLI) build on,
// each checked here directly, so that a change that breaks one fails in this package and
// not only, if at all, somewhere downstream.

// An update writes every column that changed (filters, sorting and the console read the
// columns, not the document) and bumps the version by exactly one (the ETag).
func TestUpdateUserWritesChangedColumns(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		u := addUser(t, d, "u-1", "ann@example.com", "ann@example.com", true)
		err := d.Write(ctx, func(tx *Tx) error {
			got, err := tx.UserByID(ctx, u.ID)
			if err != nil {
				return err
			}
			got.UserName, got.DisplayName, got.GivenName, got.FamilyName = "Ann.New@example.com", "Ann N.", "Ann", "Newname"
			got.ExternalID, got.Email, got.Active = "ext-9", "ann.new@example.com", false
			return tx.UpdateUser(ctx, &got)
		})
		if err != nil {
			t.Fatal(err)
		}
		var userName, norm, display, given, family, email, ext string
		var active bool
		var version int64
		if err := d.r.QueryRow(`SELECT user_name, user_name_norm, display_name, given_name, family_name, email, coalesce(external_id, ''), active, version
		FROM users WHERE id = ?`, u.ID).Scan(&userName, &norm, &display, &given, &family, &email, &ext, &active, &version); err != nil {
			t.Fatal(err)
		}
		want := []string{"Ann.New@example.com", "ann.new@example.com", "Ann N.", "Ann", "Newname", "ann.new@example.com", "ext-9"}
		for i, got := range []string{userName, norm, display, given, family, email, ext} {
			if got != want[i] {
				t.Errorf("column %d = %q, want %q", i, got, want[i])
			}
		}
		if active {
			t.Error("active was not written")
		}
		if version != u.Version+1 {
			t.Errorf("version %d after one update of version %d", version, u.Version)
		}
		// The new email is what the setup flow's lookup finds, in any case.
		if got, err := d.UserByEmail(ctx, "ANN.new@example.com"); err != nil || got.ID != u.ID {
			t.Errorf("lookup by the new email: %+v, %v", got, err)
		}
	})
}

// Updating or deleting a user that is gone says so, rather than succeeding on nothing.
func TestUpdateAndDeleteOfAMissingUser(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		u := addUser(t, d, "u-1", "ann", "ann@example.com", true)
		err := d.Write(ctx, func(tx *Tx) error {
			got, err := tx.UserByID(ctx, u.ID)
			if err != nil {
				return err
			}
			if err := tx.DeleteUser(ctx, u.ID); err != nil {
				return err
			}
			return tx.UpdateUser(ctx, &got)
		})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("update of a user deleted meanwhile: %v, want ErrNotFound", err)
		}
		err = d.Write(ctx, func(tx *Tx) error { return tx.DeleteUser(ctx, "u-nobody") })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("delete of an unknown user: %v, want ErrNotFound", err)
		}
	})
}

// Adding members reports how many were new, adds them all, and adding them again adds
// nothing: the SCIM server's audit summary and PATCH answers count on it.
func TestAddMembersCountsNewMembers(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		a := addUser(t, d, "u-a", "a", "a@example.com", true)
		b := addUser(t, d, "u-b", "b", "b@example.com", true)
		g := Group{ID: "g-1", DisplayName: "Eng", Doc: []byte(`{}`)}
		var first, again int
		err := d.Write(ctx, func(tx *Tx) error {
			if err := tx.InsertGroup(ctx, &g); err != nil {
				return err
			}
			var err error
			if first, err = tx.AddMembersN(ctx, g.Seq, []string{a.ID, b.ID}); err != nil {
				return err
			}
			again, err = tx.AddMembersN(ctx, g.Seq, []string{b.ID})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if first != 2 || again != 0 {
			t.Errorf("new members reported %d then %d, want 2 then 0", first, again)
		}
		users, _, err := d.ListUsers(ctx, Where{}, Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if len(u.Groups) != 1 || u.Groups[0].ID != g.ID {
				t.Errorf("%s is in %+v, want Eng", u.UserName, u.Groups)
			}
		}
	})
}

// Switching SCIM records who did it in the audit log, in the same transaction.
func TestSCIMSwitchIsAudited(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		if err := d.SetSCIMEnabled(ctx, true, "cli:ops"); err != nil {
			t.Fatal(err)
		}
		if err := d.SetSCIMEnabled(ctx, false, "ssh:alice SHA256:x"); err != nil {
			t.Fatal(err)
		}
		ev, err := d.EventsBefore(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev) != 2 || ev[0].Kind != "scim.disable" || ev[0].Agent != "ssh:alice SHA256:x" || ev[1].Kind != "scim.enable" || ev[1].Agent != "cli:ops" {
			t.Errorf("events %+v", ev)
		}
		if on, err := d.SCIMEnabled(ctx); err != nil || on {
			t.Errorf("SCIM on = %v (%v) after disabling", on, err)
		}
	})
}

// Token uses flushed together are all written, and a use never replaces a later one (the
// flushes of two processes may arrive out of order).
func TestRecordTokenUses(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		t1, _, err := d.CreateToken(ctx, "one", 0, "cli:test")
		if err != nil {
			t.Fatal(err)
		}
		t2, _, err := d.CreateToken(ctx, "two", 0, "cli:test")
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().Truncate(time.Millisecond)
		if err := d.RecordTokenUses(ctx, []TokenUse{{TokenID: t1.ID, At: at, Addr: "10.0.0.1", Agent: "Okta"},
			{TokenID: t2.ID, At: at, Addr: "10.0.0.2", Agent: "Entra"}}); err != nil {
			t.Fatal(err)
		}
		if err := d.RecordTokenUses(ctx, []TokenUse{{TokenID: t1.ID, At: at.Add(-time.Minute), Addr: "10.0.0.9", Agent: "old"}}); err != nil {
			t.Fatal(err)
		}
		toks, err := d.Tokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Token{}
		for _, tok := range toks {
			got[tok.ID] = tok
		}
		if u := got[t1.ID]; !u.LastUsed.Equal(at) || u.LastUsedAddr != "10.0.0.1" || u.LastUsedAgent != "Okta" {
			t.Errorf("token one: last used %v from %q by %q", u.LastUsed, u.LastUsedAddr, u.LastUsedAgent)
		}
		if u := got[t2.ID]; !u.LastUsed.Equal(at) || u.LastUsedAddr != "10.0.0.2" {
			t.Errorf("token two, flushed second in the batch: last used %v from %q", u.LastUsed, u.LastUsedAddr)
		}
	})
}

// The hint shown in lists is the prefix and the first and last four characters of the
// secret: enough to tell which token an identity provider holds, never the secret.
func TestTokenHint(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d := st.openDB(t)
		tok, secret, err := d.CreateToken(context.Background(), "okta", 0, "cli:test")
		if err != nil {
			t.Fatal(err)
		}
		want := secret[:len(TokenPrefix)+4] + "…" + secret[len(secret)-4:]
		if tok.Hint != want || strings.Contains(tok.Hint, secret[len(TokenPrefix)+4:len(secret)-4]) {
			t.Errorf("hint %q, want %q", tok.Hint, want)
		}
	})
}

// Token lifetimes at their edges: a token is hidden only *more* than HiddenAfter after it
// stopped, and a rotation's overlap may be the maximum itself.
func TestTokenLifeEdges(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		now := time.Now()
		revoked := Token{Revoked: now.Add(-HiddenAfter)}
		if revoked.Hidden(now) {
			t.Error("hidden exactly HiddenAfter after its revocation; the rule says more than")
		}
		if !revoked.Hidden(now.Add(time.Millisecond)) {
			t.Error("still shown just past HiddenAfter")
		}

		ctx := context.Background()
		d := st.openDB(t)
		tok, _, err := d.CreateToken(ctx, "okta", 0, "cli:test")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.RotateToken(ctx, tok.ID, MaxRotateOverlap+time.Second, "cli:test"); !errors.Is(err, ErrBadOverlap) {
			t.Errorf("an overlap past the maximum: %v, want ErrBadOverlap", err)
		}
		if _, _, err := d.RotateToken(ctx, tok.ID, MaxRotateOverlap, "cli:test"); err != nil {
			t.Errorf("an overlap of exactly the maximum: %v", err)
		}
	})
}

// The writer's histograms count a batch in the first bucket whose bound it does not
// exceed (Prometheus' "le"): a batch of exactly one write, or one that held the writer
// exactly a bound, is in that bound's bucket. /metrics reads them as they are.
func TestWriterHistogramBuckets(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d := st.openDB(t)
		before := d.WriterStats()
		last := len(HoldBounds) - 1
		d.noteBatch(HoldBounds[0], 1)                 // both at the first bound
		d.noteBatch(HoldBounds[0]+1, 2)               // just over the first hold bound; the second size bound
		d.noteBatch(HoldBounds[last]+1, maxBatch+1)   // over every bound
		d.noteBatch(HoldBounds[last], BatchBounds[2]) // a longest hold that does not grow the maximum below
		after := d.WriterStats()
		diff := func(a, b []int64) []int64 {
			out := make([]int64, len(a))
			for i := range a {
				out[i] = b[i] - a[i]
			}
			return out
		}
		hold, size := diff(before.HoldCounts, after.HoldCounts), diff(before.BatchCounts, after.BatchCounts)
		wantHold := make([]int64, len(HoldBounds)+1)
		wantHold[0], wantHold[1], wantHold[last], wantHold[last+1] = 1, 1, 1, 1
		wantSize := make([]int64, len(BatchBounds)+1)
		wantSize[0], wantSize[1], wantSize[2], wantSize[len(BatchBounds)] = 1, 1, 1, 1
		if fmt.Sprint(hold) != fmt.Sprint(wantHold) || fmt.Sprint(size) != fmt.Sprint(wantSize) {
			t.Errorf("hold buckets %v, want %v; size buckets %v, want %v", hold, wantHold, size, wantSize)
		}
		if after.LongestHold != HoldBounds[last]+1 {
			t.Errorf("longest hold %v, want %v", after.LongestHold, HoldBounds[last]+1)
		}
		if after.Batches-before.Batches != 4 || after.Writes-before.Writes != int64(1+2+maxBatch+1+BatchBounds[2]) {
			t.Errorf("batches +%d, writes +%d", after.Batches-before.Batches, after.Writes-before.Writes)
		}
	})
}
