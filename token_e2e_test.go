package main

import (
	"database/sql"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// secretLine is a token secret alone on its line, as `head -1` hands it to a script.
var secretLine = regexp.MustCompile(`^scim_[A-Za-z0-9]{43}$`)

// TestTokenRotateCLI rotates tokens with the real binary beside `scimdesk serve`: the new
// secret is alone on stdout's first line and works as a bearer token at once, the old one
// keeps working for its overlap (or stops at once with --overlap 0), the list links the
// two, and rotating again, a negative or an absurd overlap are refused, changing nothing.
func TestTokenRotateCLI(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "rotate.db")
	createDB(t, dbPath)
	run(t, "scim", "enable", "--db", dbPath)
	first := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "okta", "--ttl", "90d"), "\n", 2)[0]
	if !secretLine.MatchString(first) {
		t.Fatalf("the first line of token create is not a secret alone: %q", first)
	}
	firstID := tokenID(t, dbPath, "okta")
	addr := freeAddr(t)
	startServe(t, dbPath, addr)
	users := "http://" + addr + "/scim/v2/Users?count=1"

	out, errOut := runBoth(t, "token", "rotate", firstID, "--overlap", "1h", "--db", dbPath)
	second := strings.SplitN(out, "\n", 2)[0]
	if !secretLine.MatchString(second) || second == first {
		t.Fatalf("the first line of token rotate is not a new secret alone: %q", out)
	}
	if !strings.Contains(errOut, "Rotated token "+firstID) || !strings.Contains(errOut, "1h overlap") {
		t.Errorf("token rotate does not say what it did: %q", errOut)
	}
	for name, tok := range map[string]string{"new": second, "old, in its overlap": first} {
		if got := scimStatus(t, "GET", users, tok, ""); got != http.StatusOK {
			t.Errorf("the %s token: %d, want 200", name, got)
		}
	}
	list := run(t, "token", "list", "--db", dbPath)
	var secondID string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == firstID {
			if !strings.Contains(line, "rotated → tok_") {
				t.Errorf("token list does not link the rotated token to its replacement: %q", line)
			}
			secondID = f[len(f)-1]
		}
	}
	if !strings.Contains(list, secondID+"  okta") {
		t.Errorf("token list lacks the replacement %q:\n%s", secondID, list)
	}

	for _, c := range []struct {
		name string
		args []string
		says string
	}{
		{"already rotated", []string{firstID}, "already rotated"},
		{"negative overlap", []string{secondID, "--overlap=-1h"}, "must not be negative"},
		{"absurd overlap", []string{secondID, "--overlap", "45d"}, "at most 30d"},
		{"not a duration", []string{secondID, "--overlap", "soon"}, "give a duration"},
		{"unknown token", []string{"tok_000000000000"}, "not found"},
	} {
		cmd := exec.Command(builtBinary(t), append([]string{"token", "rotate", "--db", dbPath}, c.args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err == nil || stdout.Len() > 0 || !strings.Contains(stderr.String(), c.says) {
			t.Errorf("%s: err %v, stdout %q, stderr %q; want a failure saying %q", c.name, err, stdout.String(), stderr.String(), c.says)
		}
	}
	// Last use changes as the server flushes it: compare id, expiry and status.
	states := func(list string) string {
		var b strings.Builder
		for _, line := range strings.Split(list, "\n")[1:] {
			if f := strings.Fields(line); len(f) > 5 {
				b.WriteString(f[0] + " " + f[4] + " " + f[len(f)-1] + "\n")
			}
		}
		return b.String()
	}
	if after := run(t, "token", "list", "--db", dbPath); states(after) != states(list) {
		t.Errorf("refused rotations changed the list:\n%s\nwas\n%s", after, list)
	}

	// --overlap 0: the token it replaces stops at once.
	out, _ = runBoth(t, "token", "rotate", secondID, "--overlap", "0", "--db", dbPath)
	third := strings.SplitN(out, "\n", 2)[0]
	if !secretLine.MatchString(third) {
		t.Fatalf("no secret on the first line: %q", out)
	}
	if got := scimStatus(t, "GET", users, second, ""); got != http.StatusUnauthorized {
		t.Errorf("the token rotated with --overlap 0: %d, want 401", got)
	}
	if got := scimStatus(t, "GET", users, third, ""); got != http.StatusOK {
		t.Errorf("its replacement: %d, want 200", got)
	}
}

// TestTokenListHidesOldTokens: tokens revoked or expired more than 7 days ago are left out
// of `token list` (which says how many, on stderr) and listed by `token list --all`;
// recently revoked ones stay; `scim status` warns about a token that expires soon.
func TestTokenListHidesOldTokens(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "hide.db")
	createDB(t, dbPath)
	for _, desc := range []string{"current", "revoked-lately", "revoked-long-ago", "expired-long-ago"} {
		run(t, "token", "create", "--db", dbPath, "--description", desc)
	}
	run(t, "token", "create", "--db", dbPath, "--description", "soon", "--ttl", "5d")
	run(t, "token", "revoke", "--db", dbPath, tokenID(t, dbPath, "revoked-lately"))
	run(t, "token", "revoke", "--db", dbPath, tokenID(t, dbPath, "revoked-long-ago"))
	// What time does to them, written as it would be.
	raw, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	longAgo := time.Now().Add(-8 * 24 * time.Hour).UnixMilli()
	for _, q := range []string{`UPDATE scim_tokens SET revoked_at = ? WHERE description = 'revoked-long-ago'`,
		`UPDATE scim_tokens SET expires_at = ? WHERE description = 'expired-long-ago'`} {
		if _, err := raw.Exec(q, longAgo); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	descs := func(out string) map[string]bool {
		got := map[string]bool{}
		for _, line := range strings.Split(out, "\n")[1:] {
			if f := strings.Fields(line); len(f) > 1 {
				got[f[1]] = true
			}
		}
		return got
	}
	out, errOut := runBoth(t, "token", "list", "--db", dbPath)
	if got := descs(out); len(got) != 3 || !got["current"] || !got["revoked-lately"] || !got["soon"] {
		t.Errorf("token list shows %v, want current, revoked-lately and soon:\n%s", got, out)
	}
	if !strings.Contains(errOut, "2 more revoked or expired more than 7 days ago: --all lists them") {
		t.Errorf("token list does not say what it hides: %q", errOut)
	}
	out, errOut = runBoth(t, "token", "list", "--all", "--db", dbPath)
	if got := descs(out); len(got) != 5 {
		t.Errorf("token list --all shows %v, want all 5:\n%s", got, out)
	}
	if errOut != "" {
		t.Errorf("token list --all says %q", errOut)
	}

	status := run(t, "scim", "status", "--db", dbPath)
	if !strings.Contains(status, "▲ token "+tokenID(t, dbPath, "soon")+" (soon) expires in 5 days") ||
		!strings.Contains(status, "scimdesk token rotate") || strings.Contains(status, "(current)") {
		t.Errorf("scim status does not warn about exactly the expiring token:\n%s", status)
	}
}
