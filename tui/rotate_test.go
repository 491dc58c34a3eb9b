package tui

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
)

// TestTokensRotate rotates the selected token from the tab: r asks for the overlap (24
// hours unless changed), enter rotates, and the new secret is shown once on the same
// screen as a new token's; the old token then shows as rotated, works until the end of
// its overlap, and cannot be rotated again.
func TestTokensRotate(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	old, oldSecret, err := d.CreateToken(ctx, "okta prod", 90*24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	dp := testDeps(t, d, Options{})
	tk := newTokens(dp)
	dr := driveTab(t, tk, 100, 24)
	dr.waitText("1 token", "okta prod")

	// esc leaves everything as it was.
	dr.key("r")
	dr.waitText("Rotate token “okta prod”", "[24 hours]")
	if !tk.Capturing() {
		t.Fatal("the rotate form does not capture keys")
	}
	dr.key("esc")
	dr.waitText("1 token")
	if toks, _ := d.Tokens(ctx); len(toks) != 1 || toks[0].ReplacedBy != "" {
		t.Fatalf("cancelling rotated the token: %+v", toks)
	}

	dr.key("r", "right")
	dr.waitText("[3 days]")
	dr.key("left")
	dr.waitText("[24 hours]", "The old token stops in 24h")
	before := time.Now()
	dr.key("enter")
	v := plain(dr.waitText("Copy the secret now", "Replaces "+old.ID+", which keeps working until"))
	secret := secretRe.FindString(v)
	if secret == "" || secret == oldSecret {
		t.Fatalf("no new secret on screen:\n%s", v)
	}
	a, err := d.Authenticate(ctx, secret, time.Now())
	if err != nil || !a.Found || a.TokenID == old.ID {
		t.Fatalf("the secret shown does not authenticate as a new token: %+v %v", a, err)
	}
	var stored db.Token
	toks, _ := d.Tokens(ctx)
	for _, tok := range toks {
		if tok.ID == old.ID {
			stored = tok
		}
	}
	if stored.ReplacedBy != a.TokenID || stored.Expires.Before(before.Add(24*time.Hour-time.Second)) || stored.Expires.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("old token after rotation = %+v, want replaced by %s and stopping 24 h from now", stored, a.TokenID)
	}
	dr.key("c")
	dr.waitClipboard(secret)

	dr.key("esc")
	v = plain(dr.waitText("2 tokens", "↻ rotated"))
	if strings.Contains(v, secret) {
		t.Fatal("the secret survived esc")
	}
	// The new token is first; the rotated one below says what replaced it.
	dr.key("down")
	dr.waitText("↻ rotated → "+a.TokenID, "keeps working until")
	dr.key("r")
	dr.waitStatus("was already rotated: rotate its replacement, " + a.TokenID)
	if tk.Capturing() {
		t.Error("r on a rotated token opened the form")
	}

	// Overlap "none": the token it replaces stops at once.
	dr.key("up", "r", "left", "left")
	dr.waitText("[none]", "stops at once")
	dr.key("enter")
	dr.waitText("Copy the secret now", "which stopped working at once")
	if a, _ := d.Authenticate(ctx, secret, time.Now()); !a.Expired {
		t.Errorf("the token rotated with no overlap still works: %+v", a)
	}
}

// A long description (the CLI takes any) keeps the rotate form within the window.
func TestTokensRotateFormLongDescription(t *testing.T) {
	d := testDB(t)
	if _, _, err := d.CreateToken(context.Background(), strings.Repeat("okta production tenant ", 20), 0, "test"); err != nil {
		t.Fatal(err)
	}
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 80, 24)
	dr.key("2")
	dr.waitText("1 token")
	dr.key("r")
	v := dr.waitText("Rotate token “okta production", "…”", "[24 hours]")
	checkFits(t, v, 80, 24)
}

// TestTokensHideOld: a token revoked more than 7 days ago is left out of the list, which
// says so; a shows it, and a again hides it.
func TestTokensHideOld(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	gone, _, err := d.CreateToken(ctx, "retired", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RevokeToken(ctx, gone.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.CreateToken(ctx, "recently revoked", 0, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.CreateToken(ctx, "current", 0, "test"); err != nil {
		t.Fatal(err)
	}
	toks, _ := d.Tokens(ctx)
	for _, tok := range toks {
		if tok.Description == "recently revoked" {
			if err := d.RevokeToken(ctx, tok.ID, "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	backdate(t, d, "revoked_at", gone.ID, time.Now().Add(-8*24*time.Hour))

	dp := testDeps(t, d, Options{})
	dr := driveTab(t, newTokens(dp), 100, 20)
	v := plain(dr.waitText("2 tokens", "1 old token hidden (a shows all)", "current", "recently revoked"))
	if strings.Contains(v, "retired") {
		t.Fatalf("the token revoked 8 days ago is listed:\n%s", v)
	}
	dr.key("a")
	dr.waitText("3 tokens", "retired", "all, old ones too (a hides them)")
	dr.key("a")
	v = plain(dr.waitText("2 tokens", "1 old token hidden"))
	if strings.Contains(v, "retired") {
		t.Fatalf("a again does not hide it:\n%s", v)
	}
}

// backdate sets a token's time column, as time passing would, through a connection of
// its own.
func backdate(t *testing.T, d *db.DB, column, id string, at time.Time) {
	t.Helper()
	raw, err := sql.Open("sqlite", d.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE scim_tokens SET `+column+` = ? WHERE id = ?`, at.UnixMilli(), id); err != nil {
		t.Fatal(err)
	}
}

// TestProvisioningWarnsExpiringTokens: tab 1 names each token that expires within 14
// days with the days it has left, and not a token with time left nor one already rotated
// away (its replacement is named instead).
func TestProvisioningWarnsExpiringTokens(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	soon, _, err := d.CreateToken(ctx, "okta soon", 10*24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	fine, _, err := d.CreateToken(ctx, "entra fine", 90*24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	dp := testDeps(t, d, Options{})
	p := newProvisioning(dp)
	dr := driveTab(t, p, 100, 30)
	dr.do(poll(dp, 0, true))
	dr.do(loadTokens(dp))
	v := plain(dr.waitText("▲ token “okta soon” (" + soon.ID + "): 10 days left: rotate it in tab 2 (r)"))
	if strings.Contains(v, fine.ID) || strings.Contains(v, "entra fine") {
		t.Errorf("tab 1 warns about a token with 90 days left:\n%s", v)
	}

	r, _, err := d.RotateToken(ctx, soon.ID, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	dr.do(loadTokens(dp))
	v = plain(dr.waitText("(" + r.New.ID + "): 10 days left"))
	if strings.Contains(v, soon.ID) {
		t.Errorf("tab 1 still warns about the token rotated away:\n%s", v)
	}
}
