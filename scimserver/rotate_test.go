package scimserver

import (
	"context"
	"net/http"
	"scimdesk/internal/teststore"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testtool"
)

// TestRotatedTokenOverlap rotates the token an identity provider uses, through the real
// server on a real SQLite file, with a short overlap: the old and the new token both work
// during it, the old one is refused once it ends (and never before), the new one goes on
// working, and the audit log has an event for each token.
func TestRotatedTokenOverlap(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		ctx := context.Background()
		old := e.token
		const overlap = 3 * time.Second
		r, secret, err := e.db.RotateToken(ctx, tokenIDOf(t, e.db, old), overlap, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"old": old, "new": secret} {
			if got := e.doToken(tok, "GET", "/Users?count=1", "").status; got != http.StatusOK {
				t.Fatalf("the %s token during the overlap: %d, want 200", name, got)
			}
		}
		// Poll the old token until it is refused: that must not happen before its overlap
		// ends, and must happen soon after.
		deadline := r.Old.Expires.Add(5 * time.Second)
		for {
			res := e.doToken(old, "GET", "/Users?count=1", "")
			status := res.status
			answered := time.Now()
			if status == http.StatusUnauthorized {
				if answered.Before(r.Old.Expires) {
					t.Fatalf("the old token was refused at %v, before its overlap ended at %v", answered, r.Old.Expires)
				}
				// The identity provider's admin reads the detail: it must say what to do.
				if !strings.Contains(string(res.raw), "rotated and its overlap has ended: use the new token") {
					t.Errorf("the refusal of the rotated token says %s", res.raw)
				}
				break
			}
			if status != http.StatusOK {
				t.Fatalf("the old token got %d", status)
			}
			if answered.After(deadline) {
				t.Fatalf("the old token still works at %v, its overlap ended at %v", answered, r.Old.Expires)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := e.doToken(secret, "GET", "/Users?count=1", "").status; got != http.StatusOK {
			t.Errorf("the new token after the overlap: %d, want 200", got)
		}

		want := map[string]string{"token.rotate": r.Old.ID, "token.create": r.New.ID, "auth.refused": r.Old.ID}
		waitFor(t, "an audit event for each token and the refusal", func() bool {
			evs, err := e.db.EventsBefore(ctx, 0, 50)
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]bool{}
			for _, ev := range evs {
				if id, ok := want[ev.Kind]; ok && ev.TokenID == id {
					found[ev.Kind] = true
				}
			}
			return len(found) == len(want)
		})
	})
}

// tokenIDOf finds the id of the token whose secret is secret.
func tokenIDOf(t *testing.T, d *db.DB, secret string) string {
	t.Helper()
	a, err := d.Authenticate(context.Background(), secret, time.Now())
	if err != nil || !a.Found {
		t.Fatalf("no token for the secret: %v", err)
	}
	return a.TokenID
}

// waitFor polls cond until it holds, for a few seconds at most.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExpiringTokenLogged checks that the server's log names a token that expires within
// 14 days, once, and again only a day later; a token with time left is not named.
func TestExpiringTokenLogged(t *testing.T) {
	out := &testtool.SyncBuffer{}
	var d *db.DB
	srv, _ := startLogged(t, out, Config{}, func(s *Server) { d = s.db })
	ctx := context.Background()
	// 5 days less an hour: 5 days left (a part day counts) whether the server's check
	// took its clock just before the token was made or a minute after.
	soon, soonSecret, err := d.CreateToken(ctx, "okta soon", 5*24*time.Hour-time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	fine, _, err := d.CreateToken(ctx, "okta fine", 60*24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	// The first beat may have read the tokens before they existed: look again now.
	srv.tokenWarn.check(ctx, srv, time.Now().Add(tokenCheckEvery))
	lines := func() int { return strings.Count(out.String(), "token="+soon.ID) }
	waitFor(t, "the expiring token in the log", func() bool { return lines() == 1 })
	logged := out.String()
	if !strings.Contains(logged, "SCIM token expires soon") || !strings.Contains(logged, "days_left=5") {
		t.Errorf("the log line does not say what and when:\n%s", logged)
	}
	if strings.Contains(logged, fine.ID) || strings.Contains(logged, soonSecret) {
		t.Errorf("the log names a token with time left, or a secret:\n%s", logged)
	}

	srv.tokenWarn.check(ctx, srv, time.Now().Add(2*time.Hour))
	if n := lines(); n != 1 {
		t.Errorf("logged %d times within a day, want once", n)
	}
	srv.tokenWarn.check(ctx, srv, time.Now().Add(25*time.Hour))
	if n := lines(); n != 2 {
		t.Errorf("logged %d times after a day, want twice", n)
	}
}
