package db

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// setTokenTimes moves a token's expiry or revocation into the past, as time would.
func setTokenTimes(t *testing.T, d *DB, id, column string, at time.Time) {
	t.Helper()
	err := d.Write(context.Background(), func(tx *Tx) error {
		_, err := tx.q.ExecContext(context.Background(), `UPDATE scim_tokens SET `+column+` = ? WHERE id = ?`, ms(at), id)
		tx.authChanged = true // as every write to a token's life does
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func tokenByID(t *testing.T, d *DB, id string) Token {
	t.Helper()
	list, err := d.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range list {
		if tok.ID == id {
			return tok
		}
	}
	t.Fatalf("no token %s", id)
	return Token{}
}

func TestRotateToken(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		ctx := context.Background()
		old, oldSecret, err := d.CreateToken(ctx, "okta prod", 90*24*time.Hour, "t")
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now().Truncate(time.Millisecond)
		r, secret, err := d.RotateToken(ctx, old.ID, 24*time.Hour, "admin:rot")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, TokenPrefix) || secret == oldSecret || r.New.ID == old.ID {
			t.Fatalf("rotation made no new secret: %+v", r)
		}
		if r.Capped {
			t.Error("a 24 h overlap of a 90-day token reported as capped")
		}

		// As stored: the new token has the description and the lifetime length of the old
		// one; the old one points at it and stops 24 h after the rotation.
		gotOld, gotNew := tokenByID(t, d, old.ID), tokenByID(t, d, r.New.ID)
		if gotNew.Description != "okta prod" || gotNew.Expires.Sub(gotNew.Created) != 90*24*time.Hour || gotNew.Created.Before(before) {
			t.Errorf("new token = %+v, want okta prod for 90 days from now", gotNew)
		}
		if gotOld.ReplacedBy != r.New.ID || gotOld.Rotated.IsZero() || !gotOld.Expires.Equal(gotOld.Rotated.Add(24*time.Hour)) {
			t.Errorf("old token = %+v, want replaced by %s and expiring 24 h after its rotation", gotOld, r.New.ID)
		}
		if gotOld != r.Old {
			t.Errorf("RotateToken returned old = %+v, the database holds %+v", r.Old, gotOld)
		}
		now := time.Now()
		if s := gotOld.Status(now); s != TokenRotated {
			t.Errorf("old token's status during the overlap: %s", s)
		}
		if s := gotOld.Status(now.Add(25 * time.Hour)); s != TokenExpired {
			t.Errorf("old token's status after the overlap: %s", s)
		}

		// Both work during the overlap; after it only the new one.
		for _, c := range []struct {
			name, secret string
			at           time.Time
			expired      bool
		}{
			{"old during overlap", oldSecret, now.Add(23 * time.Hour), false},
			{"new during overlap", secret, now.Add(23 * time.Hour), false},
			{"old after overlap", oldSecret, now.Add(25 * time.Hour), true},
			{"new after overlap", secret, now.Add(25 * time.Hour), false},
		} {
			a, err := d.Authenticate(ctx, c.secret, c.at)
			if err != nil || !a.Found || a.Revoked || a.Expired != c.expired {
				t.Errorf("%s: %+v %v, want expired=%v", c.name, a, err, c.expired)
			}
		}

		// One event for each token, by the admin who rotated.
		evs, err := d.EventsBefore(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var rotateEv, createEv *Event
		for i, e := range evs {
			switch {
			case e.Kind == "token.rotate" && e.TokenID == old.ID:
				rotateEv = &evs[i]
			case e.Kind == "token.create" && e.TokenID == r.New.ID:
				createEv = &evs[i]
			}
		}
		if rotateEv == nil || rotateEv.Agent != "admin:rot" || !strings.Contains(rotateEv.Summary, r.New.ID) {
			t.Errorf("no token.rotate event for the old token naming the new one: %+v", evs)
		}
		if createEv == nil || createEv.Agent != "admin:rot" || !strings.Contains(createEv.Summary, "rotating "+old.ID) {
			t.Errorf("no token.create event for the new token naming the old one: %+v", evs)
		}
		if strings.Contains(rotateEv.Summary+createEv.Summary, secret) || strings.Contains(rotateEv.Summary+createEv.Summary, oldSecret) {
			t.Error("an audit event holds a secret")
		}
	})
}

// The old token never outlives its own expiry, a token that never expired is replaced by
// one that never expires, and overlap 0 stops the old one at once.
func TestRotateTokenOverlapBounds(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		ctx := context.Background()

		short, _, _ := d.CreateToken(ctx, "short", 2*time.Hour, "t")
		r, _, err := d.RotateToken(ctx, short.ID, 24*time.Hour, "t")
		if err != nil {
			t.Fatal(err)
		}
		if !r.Capped || !r.Old.Expires.Equal(short.Expires) || r.New.Expires.Sub(r.New.Created) != 2*time.Hour {
			t.Errorf("rotating a token with 2 h left and 24 h overlap: %+v, want the old expiry %v kept, capped", r, short.Expires)
		}

		forever, secret, _ := d.CreateToken(ctx, "forever", 0, "t")
		r, _, err = d.RotateToken(ctx, forever.ID, 0, "t")
		if err != nil {
			t.Fatal(err)
		}
		if !r.New.Expires.IsZero() {
			t.Errorf("the replacement of a token that never expires expires %v", r.New.Expires)
		}
		if a, _ := d.Authenticate(ctx, secret, time.Now()); !a.Expired {
			t.Errorf("with overlap 0 the old token still authenticates: %+v", a)
		}
	})
}

func TestRotateTokenRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		ctx := context.Background()
		mk := func(desc string) Token {
			tok, _, err := d.CreateToken(ctx, desc, 90*24*time.Hour, "t")
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		revoked, expired, rotated, fine := mk("revoked"), mk("expired"), mk("rotated"), mk("fine")
		if err := d.RevokeToken(ctx, revoked.ID, "t"); err != nil {
			t.Fatal(err)
		}
		setTokenTimes(t, d, expired.ID, "expires_at", time.Now().Add(-time.Hour))
		r, _, err := d.RotateToken(ctx, rotated.ID, time.Hour, "t")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name    string
			id      string
			overlap time.Duration
			want    error
			says    string
		}{
			{"revoked", revoked.ID, time.Hour, ErrCannotRotate, "was revoked on"},
			{"expired", expired.ID, time.Hour, ErrCannotRotate, "expired on"},
			{"already rotated", rotated.ID, time.Hour, ErrCannotRotate, "already rotated on"},
			{"unknown", "tok_000000000000", time.Hour, ErrNotFound, "tok_000000000000"},
			{"negative overlap", fine.ID, -time.Second, ErrBadOverlap, "give 0"},
			{"absurd overlap", fine.ID, MaxRotateOverlap + time.Hour, ErrBadOverlap, "up to 30 days"},
		} {
			tokensBefore, _ := d.Tokens(ctx)
			evsBefore, _ := d.EventsBefore(ctx, 0, 1)
			_, secret, err := d.RotateToken(ctx, c.id, c.overlap, "t")
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("%s: %v, want %v saying %q", c.name, err, c.want, c.says)
			}
			if secret != "" {
				t.Errorf("%s: a refused rotation returned a secret", c.name)
			}
			tokensAfter, _ := d.Tokens(ctx)
			evsAfter, _ := d.EventsBefore(ctx, 0, 1)
			if len(tokensAfter) != len(tokensBefore) || evsAfter[0].ID != evsBefore[0].ID {
				t.Errorf("%s: a refused rotation changed something", c.name)
			}
		}
		if tok := tokenByID(t, d, rotated.ID); tok.ReplacedBy != r.New.ID {
			t.Errorf("a refused second rotation changed the first one's link: %+v", tok)
		}
		if tok := tokenByID(t, d, fine.ID); tok.ReplacedBy != "" || !tok.Expires.Equal(fine.Expires) {
			t.Errorf("a refused overlap changed the token: %+v", tok)
		}
	})
}

func TestTokenLifecycleHelpers(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		day := 24 * time.Hour
		tokens := []Token{
			{ID: "active", Expires: now.Add(60 * day)},
			{ID: "never"},
			{ID: "soon", Expires: now.Add(5*day + time.Hour)},
			{ID: "sooner", Expires: now.Add(2 * day)},
			{ID: "rotating", Expires: now.Add(day), ReplacedBy: "active"},
			{ID: "expired recently", Expires: now.Add(-6 * day)},
			{ID: "expired long ago", Expires: now.Add(-8 * day)},
			{ID: "revoked recently", Revoked: now.Add(-6 * day), Expires: now.Add(60 * day)},
			{ID: "revoked long ago", Revoked: now.Add(-8 * day)},
			{ID: "revoked lately, expired long ago", Revoked: now.Add(-time.Hour), Expires: now.Add(-30 * day)},
			{ID: "rotated long ago", Expires: now.Add(-9 * day), ReplacedBy: "never"},
		}
		var visible []string
		for _, tok := range Visible(tokens, now) {
			visible = append(visible, tok.ID)
		}
		want := "active,never,soon,sooner,rotating,expired recently,revoked recently"
		if got := strings.Join(visible, ","); got != want {
			t.Errorf("visible = %s\nwant      %s", got, want)
		}

		var expiring []string
		for _, tok := range ExpiringTokens(tokens, now) {
			expiring = append(expiring, tok.ID)
		}
		if got := strings.Join(expiring, ","); got != "sooner,soon" {
			t.Errorf("expiring = %s, want sooner,soon (soonest first; the rotated one not)", got)
		}
		for _, c := range []struct {
			left time.Duration
			want int
		}{{5*day + time.Hour, 6}, {5 * day, 5}, {day - time.Minute, 1}, {time.Second, 1}, {0, 0}, {-day, 0}} {
			if got := (Token{Expires: now.Add(c.left)}).DaysLeft(now); got != c.want {
				t.Errorf("days left with %v to go = %d, want %d (a part day counts)", c.left, got, c.want)
			}
		}

		s := SummarizeTokens(tokens, now)
		wantStates := map[string]int{TokenActive: 2, TokenExpiring: 2, TokenRotated: 1, TokenExpired: 3, TokenRevoked: 3}
		for _, st := range TokenStates {
			if s.ByState[st] != wantStates[st] {
				t.Errorf("%s: %d tokens, want %d", st, s.ByState[st], wantStates[st])
			}
		}
		if !s.EarliestExpiry.Equal(now.Add(2*day)) || len(s.Expiring) != 2 {
			t.Errorf("earliest expiry %v (want the sooner one's, not the rotated one's), expiring %d", s.EarliestExpiry, len(s.Expiring))
		}
	})
}
