package db

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The outbox's promises: one open invitation per user, only pending users with an address,
// the code issued at send time redeems, a user who stops being pending is not mailed, and
// the counts the console shows add up.
func TestInvitationOutbox(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		ada := addUser(t, d, "u-ada", "ada@example.com", "", true)
		bob := addUser(t, d, "u-bob", "bob", "bob@example.com", true)
		noAddr := addUser(t, d, "u-nomail", "nomail", "", true)
		off := addUser(t, d, "u-off", "off@example.com", "", false)
		ready := addUser(t, d, "u-ready", "ready@example.com", "", true)
		giveKey(t, d, ready)

		if ok, err := d.InviteUser(ctx, ada.ID, "cli:admin"); err != nil || !ok {
			t.Fatalf("InviteUser(ada) = %v, %v; want queued", ok, err)
		}
		if ok, err := d.InviteUser(ctx, ada.ID, "cli:admin"); err != nil || ok {
			t.Fatalf("second InviteUser(ada) = %v, %v; want nothing queued (one is open)", ok, err)
		}
		if _, err := d.InviteUser(ctx, noAddr.ID, "cli:admin"); !errors.Is(err, ErrNoAddress) {
			t.Fatalf("InviteUser(no address) = %v, want ErrNoAddress", err)
		}
		if _, err := d.InviteUser(ctx, off.ID, "cli:admin"); !errors.Is(err, ErrUserDeactivated) {
			t.Fatalf("InviteUser(deactivated) = %v, want ErrUserDeactivated", err)
		}
		if _, err := d.InviteUser(ctx, ready.ID, "cli:admin"); !errors.Is(err, ErrUserReady) {
			t.Fatalf("InviteUser(ready) = %v, want ErrUserReady", err)
		}

		now := time.Now()
		c, err := d.CountOnboarding(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := (OnboardingCounts{Pending: 3, NothingOut: 2, Queued: 1}); c != want {
			t.Fatalf("counts = %+v, want %+v", c, want)
		}
		// All pending: bob (the only one left with nothing out and an address); nomail skipped.
		q, skipped, err := d.InviteAllPending(ctx, "cli:admin")
		if err != nil || q != 1 || skipped != 1 {
			t.Fatalf("InviteAllPending = %d, %d, %v; want 1 queued, 1 without address", q, skipped, err)
		}

		due, err := d.DueInvitations(ctx, time.Now(), 10)
		if err != nil || len(due) != 2 || due[0].UserName != "ada@example.com" || due[1].Address != "bob@example.com" {
			t.Fatalf("due = %+v, %v; want ada's then bob's", due, err)
		}
		retry := time.Now().Add(time.Minute)
		inv, code, secret, err := d.StartInvite(ctx, due[0].ID, retry)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Attempts != 1 || inv.NextAt.UnixMilli() != retry.UnixMilli() {
			t.Fatalf("started invitation = %+v, want attempt 1 due again at %v", inv, retry)
		}
		if later, _ := d.DueInvitations(ctx, time.Now(), 10); len(later) != 1 || later[0].ID != due[1].ID {
			t.Fatalf("due after a start = %+v, want only bob's (ada's waits for its retry time)", later)
		}
		if u, err := d.CheckSetupCode(ctx, "ada@example.com", secret, PurposeSetup, time.Now()); err != nil || u.ID != ada.ID {
			t.Fatalf("the emailed code does not redeem: %v, %v", u.ID, err)
		}
		if err := d.InviteSent(ctx, inv.ID, code.Expires); err != nil {
			t.Fatal(err)
		}
		got, err := d.LatestInvite(ctx, ada.ID)
		if err != nil || got.State() != "sent" || !got.CodeExpires.Equal(code.Expires) {
			t.Fatalf("ada's invitation = %+v, %v; want sent with the code's expiry", got, err)
		}
		if _, _, _, err := d.StartInvite(ctx, inv.ID, retry); !errors.Is(err, ErrInviteClosed) {
			t.Fatalf("starting a sent invitation again = %v, want ErrInviteClosed", err)
		}

		// Bob becomes ready before his mail goes out: it is given up, not sent.
		giveKey(t, d, bob)
		if _, _, _, err := d.StartInvite(ctx, due[1].ID, retry); !errors.Is(err, ErrInviteClosed) || !errors.Is(err, ErrUserReady) {
			t.Fatalf("starting the invitation of a user now ready = %v, want ErrInviteClosed wrapping ErrUserReady", err)
		}
		if got, _ := d.LatestInvite(ctx, bob.ID); got.State() != "failed" || got.LastError == "" {
			t.Fatalf("bob's invitation = %+v, want failed with the reason", got)
		}
		c, err = d.CountOnboarding(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if want := (OnboardingCounts{Pending: 2, NothingOut: 1, CodesOut: 1}); c != want {
			t.Fatalf("counts = %+v, want %+v", c, want)
		}
		// A day later ada's code has expired unused.
		if c, _ = d.CountOnboarding(ctx, time.Now().Add(SetupCodeTTL+time.Minute)); c.Expired != 1 || c.CodesOut != 0 || c.NothingOut != 2 {
			t.Fatalf("counts a day later = %+v, want ada's code expired", c)
		}
	})
}

// A transient failure keeps the invitation for its retry; a permanent one gives it up.
// Re-activation invites at most once per InviteReactivateEvery.
func TestInvitationFailuresAndReactivation(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		ada := addUser(t, d, "u-ada", "ada@example.com", "", true)
		if _, err := d.InviteUser(ctx, ada.ID, "cli:admin"); err != nil {
			t.Fatal(err)
		}
		due, _ := d.DueInvitations(ctx, time.Now(), 1)
		inv, _, _, err := d.StartInvite(ctx, due[0].ID, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.InviteFailed(ctx, inv.ID, "dial tcp: connection refused", false); err != nil {
			t.Fatal(err)
		}
		got, _ := d.LatestInvite(ctx, ada.ID)
		if got.State() != "retrying" || got.LastError != "dial tcp: connection refused" {
			t.Fatalf("after a transient failure = %+v, want retrying with the error", got)
		}
		if due, _ := d.DueInvitations(ctx, time.Now().Add(2*time.Hour), 1); len(due) != 1 {
			t.Fatal("a retrying invitation is not due after its retry time")
		}
		if err := d.InviteFailed(ctx, inv.ID, "550 no such mailbox", true); err != nil {
			t.Fatal(err)
		}
		if got, _ := d.LatestInvite(ctx, ada.ID); got.State() != "failed" {
			t.Fatalf("after a permanent failure = %+v, want failed", got)
		}

		// Re-activation: ada was invited just now, so no second mail.
		err = d.Write(ctx, func(tx *Tx) error {
			u, err := tx.UserByID(ctx, ada.ID)
			if err != nil {
				return err
			}
			ok, err := tx.EnqueueInvite(ctx, u, InviteReactivated, "scim")
			if ok {
				t.Error("re-activation queued a second invitation within InviteReactivateEvery")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// An invitation goes to the address the user has when it is sent: the identity provider
// may have corrected it since it was queued.
func TestInvitationFollowsAddressChange(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		bob := addUser(t, d, "u-bob", "bob", "bob@old.example.com", true)
		if _, err := d.InviteUser(ctx, bob.ID, "cli:admin"); err != nil {
			t.Fatal(err)
		}
		err := d.Write(ctx, func(tx *Tx) error {
			u, err := tx.UserByID(ctx, bob.ID)
			if err != nil {
				return err
			}
			u.Email = "bob@new.example.com"
			return tx.UpdateUser(ctx, &u)
		})
		if err != nil {
			t.Fatal(err)
		}
		due, _ := d.DueInvitations(ctx, time.Now(), 1)
		inv, _, _, err := d.StartInvite(ctx, due[0].ID, time.Now().Add(time.Minute))
		if err != nil || inv.Address != "bob@new.example.com" {
			t.Fatalf("started invitation goes to %q (%v), want the new address", inv.Address, err)
		}
		if got, _ := d.LatestInvite(ctx, bob.ID); got.Address != "bob@new.example.com" {
			t.Fatalf("stored address %q, want the new one", got.Address)
		}
	})
}
