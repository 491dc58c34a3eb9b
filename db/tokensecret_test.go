package db

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"time"
)

// newSecretRe is the shape of every new secret: the prefix, then letters and digits only,
// so that a double-click or tmux's word selection takes all of it.
var newSecretRe = regexp.MustCompile(`^scim_[A-Za-z0-9]{43}$`)

// TestTokenSecretAlphabet: secrets from create and rotate are letters and digits behind
// the prefix, use the whole alphabet (no symbol left out, so no entropy lost), and secrets
// of the old base64url format, with - and _, still authenticate.
func TestTokenSecretAlphabet(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()

	tok, secret, err := d.CreateToken(ctx, "okta", 0, "t")
	if err != nil {
		t.Fatal(err)
	}
	r, rotated, err := d.RotateToken(ctx, tok.ID, 0, "t")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, rotated} {
		if !newSecretRe.MatchString(s) {
			t.Errorf("new secret %q does not match %s", s, newSecretRe)
		}
	}
	if a, _ := d.Authenticate(ctx, rotated, now); !a.Found || a.TokenID != r.New.ID {
		t.Errorf("the rotated secret does not authenticate: %+v", a)
	}

	seen := map[rune]bool{}
	for range 300 {
		s, err := newTokenSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !newSecretRe.MatchString(s) {
			t.Fatalf("secret %q does not match %s", s, newSecretRe)
		}
		for _, c := range strings.TrimPrefix(s, TokenPrefix) {
			seen[c] = true
		}
	}
	// 300 secrets are 12,900 symbols: a symbol of 62 goes unseen with odds of about 1e-86.
	if len(seen) != len(secretAlphabet) {
		t.Errorf("the secrets use %d symbols, want all %d", len(seen), len(secretAlphabet))
	}

	// A token minted by an earlier version: 32 random bytes in base64url, - and _ included.
	raw := make([]byte, 32)
	rand.Read(raw)
	old := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	old = old[:len(old)-2] + "-_" // make sure the punctuation is there
	var oldTok Token
	if err := d.Write(ctx, func(tx *Tx) error {
		var err error
		oldTok, err = tx.insertToken(ctx, "legacy", old, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if a, _ := d.Authenticate(ctx, old, now); !a.Found || a.TokenID != oldTok.ID || a.Revoked || a.Expired {
		t.Errorf("an old-format secret no longer authenticates: %+v", a)
	}
}
