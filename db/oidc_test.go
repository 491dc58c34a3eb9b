package db

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOIDCConfig(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		if c, err := d.OIDCConfig(ctx); err != nil || c.Configured() {
			t.Fatalf("a new database has sign-in set: %+v, %v", c, err)
		}
		for _, bad := range []OIDCConfig{
			{Issuer: "http://idp.example.com", ClientID: "c"},
			{Issuer: "idp.example.com", ClientID: "c"},
			{Issuer: "https://idp.example.com?x=1", ClientID: "c"},
			{Issuer: "ftp://idp.example.com", ClientID: "c"},
			{Issuer: "https://idp.example.com", ClientID: ""},
			{Issuer: "https://idp.example.com", ClientID: "a b"},
		} {
			if err := d.SetOIDCConfig(ctx, bad, "cli:test"); err == nil {
				t.Errorf("SetOIDCConfig(%+v) accepted", bad)
			}
		}
		for _, good := range []OIDCConfig{
			{Issuer: "http://127.0.0.1:9000", ClientID: "c"},
			{Issuer: "http://localhost:9000/oauth2", ClientID: "c"},
			{Issuer: "https://example.okta.com", ClientID: "0oa1b2c3"},
		} {
			if err := d.SetOIDCConfig(ctx, good, "cli:test"); err != nil {
				t.Errorf("SetOIDCConfig(%+v): %v", good, err)
			}
			if c, err := d.OIDCConfig(ctx); err != nil || c != good {
				t.Errorf("read back %+v, %v; want %+v", c, err, good)
			}
		}
		if err := d.ClearOIDCConfig(ctx, "cli:test"); err != nil {
			t.Fatal(err)
		}
		if c, _ := d.OIDCConfig(ctx); c.Configured() {
			t.Errorf("cleared, still %+v", c)
		}
		ev, err := d.EventsBefore(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range ev {
			if e.Agent != "cli:test" {
				t.Errorf("event %s names %q", e.Kind, e.Agent)
			}
			kinds = append(kinds, e.Kind)
		}
		if got := strings.Join(kinds, " "); got != "oidc.clear oidc.set oidc.set oidc.set" {
			t.Errorf("audit log: %s", got)
		}
	})
}

func TestGrantSignIn(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		now := time.Now()
		alice := addUser(t, d, "u-alice", "alice", "Alice@Example.com", true)
		addUser(t, d, "u-gone", "gone@example.com", "gone@example.com", false)
		ready := addUser(t, d, "u-ready", "ready@example.com", "", true)
		giveKey(t, d, ready)
		addUser(t, d, "u-a", "shared@example.com", "", true)
		addUser(t, d, "u-b", "bee", "SHARED@example.com", true)

		signIn := func(tok, login, purpose string) SignIn {
			return SignIn{TokenHash: IDTokenHash(tok), TokenExpires: now.Add(time.Hour), Login: login, Purpose: purpose,
				Event: Event{Kind: "user.signin", Addr: "127.0.0.1"}}
		}
		for _, c := range []struct {
			login, purpose string
			want           error
		}{
			{"nobody@example.com", PurposeSetup, ErrSignInUnknown},
			{"", PurposeSetup, ErrSignInUnknown},
			{"gone@example.com", PurposeSetup, ErrUserDeactivated},
			{"ready@example.com", PurposeSetup, ErrUserReady},
			{"alice@example.com", PurposeRecover, ErrUserNoKey},
			{"shared@example.com", PurposeSetup, ErrSignInAmbiguous},
		} {
			s := signIn("t-"+c.login+c.purpose, c.login, c.purpose)
			_, err := d.CheckSignIn(ctx, s, now)
			_, _, _, gerr := d.GrantSignIn(ctx, s)
			var se *SignInError
			if !errors.As(err, &se) || !errors.Is(err, c.want) || !errors.Is(gerr, c.want) {
				t.Errorf("%s for %s: check %v, grant %v; want %v", c.login, c.purpose, err, gerr, c.want)
			}
		}

		// Matched case-insensitively by email; the code it issues is an ordinary setup code.
		s := signIn("t1", " alice@EXAMPLE.com ", PurposeSetup)
		if u, err := d.CheckSignIn(ctx, s, now); err != nil || u.ID != alice.ID {
			t.Fatalf("check: %+v, %v", u, err)
		}
		u, c, code, err := d.GrantSignIn(ctx, s)
		if err != nil || u.ID != alice.ID || c.Purpose != PurposeSetup || !c.Expires.After(now) || c.Expires.After(now.Add(SignInCodeTTL+time.Minute)) {
			t.Fatalf("grant: %+v %+v, %v", u, c, err)
		}
		if u, err := d.CheckSetupCode(ctx, "alice", code, PurposeSetup, now); err != nil || u.ID != alice.ID {
			t.Fatalf("the granted code does not check: %v", err)
		}
		// The same token again is refused, by the reader and by the writer.
		if _, err := d.CheckSignIn(ctx, s, now); !errors.Is(err, ErrTokenReplayed) {
			t.Errorf("replayed token passes the check: %v", err)
		}
		if _, _, _, err := d.GrantSignIn(ctx, s); !errors.Is(err, ErrTokenReplayed) {
			t.Errorf("replayed token granted: %v", err)
		}
		ev, _ := d.EventsBefore(ctx, 0, 1)
		if len(ev) != 1 || ev[0].Kind != "user.signin" || ev[0].Subject != "alice" || strings.Contains(ev[0].Summary, code) {
			t.Errorf("audit: %+v", ev)
		}
		// An expired token is forgotten by a later grant: the table stays bounded.
		old := SignIn{TokenHash: IDTokenHash("old"), TokenExpires: now.Add(-time.Minute), Login: "bee", Purpose: PurposeSetup}
		if _, _, _, err := d.GrantSignIn(ctx, old); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := d.GrantSignIn(ctx, signIn("t2", "bee", PurposeSetup)); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := d.r.QueryRowContext(ctx, `SELECT count(*) FROM oidc_used_tokens WHERE token_hash = ?`, IDTokenHash("old")).Scan(&n); err != nil || n != 0 {
			t.Errorf("expired token still remembered: %d, %v", n, err)
		}
	})
}
