package db

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"scimdesk/internal/testtool"
)

// TestAuthCacheFollowsChangesOfOtherProcesses: two handles on one database stand for two
// processes (two instances on PostgreSQL). The server's handle authenticates a token
// again and again (from its cache); the moment the admin's handle has revoked it, or
// switched SCIM off, the server's very next authentication says so.
func TestAuthCacheFollowsChangesOfOtherProcesses(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		server, loc := st.open(t)
		var warnings testtool.SyncBuffer
		admin, err := Open(ctx, loc, WithLogger(slog.New(slog.NewTextHandler(&warnings, nil))))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		// A process that listened and has just ended (an admin command before this one):
		// nobody waits for it.
		gone, err := Open(ctx, loc)
		if err != nil {
			t.Fatal(err)
		}
		waitListening(t, gone)
		gone.Close()
		if err := admin.SetSCIMEnabled(ctx, true, "cli:test"); err != nil {
			t.Fatal(err)
		}
		tok, secret, err := admin.CreateToken(ctx, "okta", 0, "cli:test")
		if err != nil {
			t.Fatal(err)
		}
		other, otherSecret, err := admin.CreateToken(ctx, "entra", 0, "cli:test")
		if err != nil {
			t.Fatal(err)
		}
		waitListening(t, server)
		waitListening(t, admin)
		authOK := func(secret string) Auth {
			t.Helper()
			a, err := server.Authenticate(ctx, secret, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		for range 3 { // read, then served from the cache
			if a := authOK(secret); !a.Found || a.Revoked || !a.SCIMEnabled {
				t.Fatalf("before the revoke: %+v", a)
			}
		}
		if err := admin.RevokeToken(ctx, tok.ID, "cli:test"); err != nil {
			t.Fatal(err)
		}
		if a := authOK(secret); !a.Revoked {
			t.Fatalf("the first authentication after the revoke returned: %+v, want revoked", a)
		}
		if a := authOK(otherSecret); a.Revoked || !a.SCIMEnabled || a.TokenID != other.ID {
			t.Fatalf("the other token: %+v", a)
		}
		if err := admin.SetSCIMEnabled(ctx, false, "cli:test"); err != nil {
			t.Fatal(err)
		}
		if a := authOK(otherSecret); a.SCIMEnabled {
			t.Fatalf("the first authentication after SCIM was switched off: %+v", a)
		}
		// Rotation cuts the old token's expiry: decided at each request from the row.
		if err := admin.SetSCIMEnabled(ctx, true, "cli:test"); err != nil {
			t.Fatal(err)
		}
		authOK(otherSecret)
		if _, _, err := admin.RotateToken(ctx, other.ID, 0, "cli:test"); err != nil {
			t.Fatal(err)
		}
		if a := authOK(otherSecret); !a.Expired || !a.Rotated {
			t.Fatalf("the first authentication after a rotation without overlap: %+v", a)
		}
		// Every process that had to confirm did: none was waited for in vain (the admin's
		// own listener, the ended process).
		if strings.Contains(warnings.String(), "did not confirm") {
			t.Errorf("an auth change waited for a confirmation that could not come:\n%s", warnings.String())
		}
	})
}

// waitListening waits until d hears other processes' changes (PostgreSQL's listener
// connects in the background; SQLite's file is there from Open).
func waitListening(t *testing.T, d *DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := d.currentAuthGen(); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the change listener did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChangesWakeOnOtherProcessesWrites: a console subscribed to one handle hears a write
// committed through another handle (another process), and one through its own.
func TestChangesWakeOnOtherProcessesWrites(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		console, loc := st.open(t)
		writer, err := Open(ctx, loc)
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Close()
		waitListening(t, console)
		changes, cancel := console.Changes()
		defer cancel()
		drain := func() {
			for {
				select {
				case <-changes:
				case <-time.After(3 * dataVersionEvery):
					return
				}
			}
		}
		drain()
		for i, d := range []*DB{writer, console} {
			addUser(t, d, "u"+string(rune('a'+i)), "user"+string(rune('a'+i)), "", true)
			select {
			case <-changes:
			case <-time.After(10 * time.Second):
				t.Fatalf("write %d: no change signal", i)
			}
			drain()
		}
		cancel()
		addUser(t, writer, "u-after", "after", "", true)
		select {
		case <-changes:
			t.Fatal("a signal after the subscription ended")
		case <-time.After(3 * dataVersionEvery):
		}
	})
}
