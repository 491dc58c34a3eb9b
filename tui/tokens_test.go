package tui

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
)

var secretRe = regexp.MustCompile(`scim_[A-Za-z0-9]{43}`)

func TestTokensCreateShowsSecretOnce(t *testing.T) {
	d := testDB(t)
	dp := testDeps(t, d, Options{})
	tk := newTokens(dp)
	dr := driveTab(t, tk, 80, 20)
	dr.waitText("No tokens yet")

	dr.key("n")
	if !tk.Capturing() {
		t.Fatal("the form does not capture keys")
	}
	dr.typeText("okta prod")
	dr.key("enter")
	v := plain(dr.waitText("Copy the secret now"))
	secret := secretRe.FindString(v)
	if secret == "" {
		t.Fatalf("no secret on screen:\n%s", v)
	}
	a, err := d.Authenticate(context.Background(), secret, time.Now())
	if err != nil || !a.Found {
		t.Fatalf("the secret shown does not authenticate: %+v %v", a, err)
	}
	toks, _ := d.Tokens(context.Background())
	if len(toks) != 1 || toks[0].Description != "okta prod" || toks[0].Expires.Sub(toks[0].Created) != 90*24*time.Hour {
		t.Fatalf("stored token = %+v, want okta prod for 90 days", toks)
	}

	dr.key("c")
	dr.waitClipboard(secret)

	// Leaving the tab hides it for good.
	dr.send(tabLeftMsg{})
	v = plain(dr.waitText("okta prod", "● active"))
	if strings.Contains(v, secret) || tk.secret != "" {
		t.Fatal("the secret survived leaving the tab")
	}
}

func TestTokensFormValidatesAndWarns(t *testing.T) {
	d := testDB(t)
	dp := testDeps(t, d, Options{})
	tk := newTokens(dp)
	dr := driveTab(t, tk, 80, 20)
	dr.key("n", "enter")
	v := plain(dr.waitText("a description is required, e.g. okta"))
	// Inline: right under the field, before the lifetime.
	if strings.Index(v, "description is required") > strings.Index(v, "Lifetime") {
		t.Errorf("the hint is not under the description:\n%s", v)
	}
	dr.typeText("x")
	if strings.Contains(plain(dr.view()), "description is required") {
		t.Error("the hint stays while typing a description")
	}
	dr.key("backspace")

	dr.typeText("entra")
	dr.key("tab", "right", "right", "right")
	dr.waitText("[never]", "never expires works until you revoke it")
	dr.key("left")
	if strings.Contains(plain(dr.view()), "never expires works") {
		t.Error("the warning stays after choosing a lifetime")
	}
	dr.key("right", "enter")
	dr.waitText("Copy the secret now", "never expires")
	toks, _ := d.Tokens(context.Background())
	if len(toks) != 1 || !toks[0].Expires.IsZero() {
		t.Fatalf("stored token = %+v, want one that never expires", toks)
	}

	dr.key("esc")
	dr.waitText("entra")
	dr.key("n", "esc")
	if tk.formOpen {
		t.Fatal("esc does not close the form")
	}
	if toks, _ := d.Tokens(context.Background()); len(toks) != 1 {
		t.Fatal("cancelling the form created a token")
	}
}

func TestTokensRevokeAndMarks(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	for _, c := range []struct {
		desc string
		ttl  time.Duration
	}{{"expired one", time.Millisecond}, {"soon", 3 * 24 * time.Hour}, {"fine", 90 * 24 * time.Hour}} {
		if _, _, err := d.CreateToken(ctx, c.desc, c.ttl, "test"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // distinct creation times, and the first one expires
	}
	dp := testDeps(t, d, Options{})
	tk := newTokens(dp)
	dr := driveTab(t, tk, 100, 20)
	v := plain(dr.waitText("3 tokens"))
	for _, want := range []string{"✗ expired", "▲ expiring", "● active"} {
		if !strings.Contains(v, want) {
			t.Errorf("the list lacks %q:\n%s", want, v)
		}
	}
	// Newest first: the cursor is on "fine".
	dr.key("x")
	dr.waitText("Revoke token “fine”", "This cannot")
	dr.key("y")
	dr.waitText("– revoked")
	toks, _ := d.Tokens(ctx)
	for _, tok := range toks {
		if tok.Description == "fine" && tok.Status(time.Now()) != db.TokenRevoked {
			t.Fatal("the token is not revoked in the database")
		}
	}
	dr.key("down")
	dr.waitText("expires in", "press r to rotate it")
}

// A long description (the CLI takes any) keeps the secret screen within the width, cut
// with an ellipsis.
func TestTokensSecretScreenLongDescription(t *testing.T) {
	d := testDB(t)
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 80, 24)
	dr.key("2")
	dr.waitText("No tokens yet")
	tok, secret, err := d.CreateToken(context.Background(), strings.Repeat("okta production tenant ", 20), 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	dr.send(tokenCreatedMsg{Token: tok, Secret: secret})
	v := dr.waitText("Copy the secret now", secret)
	checkFits(t, v, 80, 24)
	lines := strings.Split(plain(v), "\n")
	if head := lines[2]; !strings.Contains(head, "…” created ("+tok.ID) {
		t.Errorf("the heading does not cut the description with an ellipsis: %q", head)
	}
	dr.key("esc")
	v = dr.waitText("1 token")
	checkFits(t, v, 80, 24)
}
