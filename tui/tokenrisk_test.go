package tui

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestFlowTabOneWarnsWhenEveryTokenExpires: tab 1 warns when every usable token expires
// within 14 days (provisioning stops on the last expiry), not when another token lives
// on, and says so louder when no token is usable at all.
func TestFlowTabOneWarnsWhenEveryTokenExpires(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	soon, _, err := d.CreateToken(ctx, "okta", 10*24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	s := startTerm(t, newApp(testDeps(t, d, Options{})), 100, 30)
	s.waitScreen("1 usable token", "▲ the only usable token expires within 14 days", "provisioning stops "+day(soon.Expires),
		"▲ token “okta” ("+soon.ID+"): 10 days left")

	// A second token that lives on: provisioning goes on, so only the expiring one is named.
	if _, _, err := d.CreateToken(ctx, "entra", 90*24*time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	s.keys("2", "1") // tab 2 reads the tokens again
	scr := s.waitScreen("2 usable tokens", "("+soon.ID+"): 10 days left")
	if strings.Contains(scr, "expires within 14 days") {
		t.Errorf("tab 1 warns that every token expires while one lives 90 days:\n%s", scr)
	}

	// Both expiring soon: the plural warning.
	toks, _ := d.Tokens(ctx)
	for _, tok := range toks {
		if tok.Description == "entra" {
			if err := d.RevokeToken(ctx, tok.ID, "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := d.CreateToken(ctx, "okta 2", 5*24*time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	s.keys("2", "1")
	s.waitScreen("2 usable tokens", "▲ every usable token expires within 14 days", "provisioning stops "+day(soon.Expires))

	// None usable: said as a failure, with what it means.
	toks, _ = d.Tokens(ctx)
	for _, tok := range toks {
		if err := d.RevokeToken(ctx, tok.ID, "test"); err != nil {
			t.Fatal(err)
		}
	}
	s.keys("2", "1")
	s.waitScreen("✗ no usable token", "every token expired or was revoked")
}
