package tui

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// TestFlowNarrowTerminalDegrades: below 80 columns the tab bar gives up the name, then
// the titles of the tabs not shown, then the badge's "SCIM", and only then cuts, with an
// ellipsis; no word is ever cut in half and nothing wraps. The line under the tabs keeps
// the server's log in view, shortened from the left; a long status line ends with an
// ellipsis after a whole word.
func TestFlowNarrowTerminalDegrades(t *testing.T) {
	words := map[string]bool{"scimdesk": true, "SCIM": true, "○": true, "off": true, "…": true}
	for i, title := range []string{"Provisioning", "Tokens", "Users", "Groups", "Activity"} {
		words[string(rune('1'+i))] = true
		words[title] = true
	}
	for _, c := range []struct {
		width      int
		want       []string // on the tab line
		wantNot    []string
		badgeWhole bool
	}{
		{80, []string{"scimdesk", "1 Provisioning", "5 Activity", "SCIM ○ off"}, nil, true},
		{72, []string{"1 Provisioning", "5 Activity", "SCIM ○ off"}, []string{"scimdesk"}, true},
		{50, []string{"1 Provisioning", " 2 ", " 5 ", "SCIM ○ off"}, []string{"Tokens", "Activity"}, true},
		{34, []string{"1 Provisioning", " 5 ", "○ off"}, []string{"SCIM"}, false},
		{24, []string{"1 Provisioning", "…"}, nil, false},
	} {
		t.Run(strconv.Itoa(c.width), func(t *testing.T) {
			d := testDB(t)
			srv := startServer(t, d)
			dp := testDeps(t, d, Options{Server: srv, LogPath: "/var/lib/scimdesk/a-rather-long-directory-name/scimdesk.log"})
			s := startTerm(t, newApp(dp), c.width, 20)
			scr := s.waitScreen(append([]string{"e enable SCIM"}, c.want...)...)
			lines := strings.Split(scr, "\n")
			if len(lines) < 20 {
				t.Fatalf("the screen has %d lines:\n%s", len(lines), scr)
			}
			tabs := lines[0]
			for _, w := range c.want {
				if !strings.Contains(tabs, w) {
					t.Errorf("the tab line at %d columns lacks %q: %q", c.width, w, tabs)
				}
			}
			for _, w := range c.wantNot {
				if strings.Contains(tabs, w) {
					t.Errorf("the tab line at %d columns still has %q: %q", c.width, w, tabs)
				}
			}
			for _, w := range strings.Fields(tabs) {
				if !words[w] && !strings.HasSuffix(w, "…") {
					t.Errorf("the tab line at %d columns cuts a word (%q): %q", c.width, w, tabs)
				}
			}
			// The rule under the tabs marks the shown tab, under its title.
			if i := strings.Index(lines[1], "━"); i < 0 {
				t.Errorf("no mark under the shown tab: %q", lines[1])
			}
			where := lines[18]
			if !strings.HasSuffix(strings.TrimRight(where, " "), "scimdesk.log") {
				t.Errorf("the line under the tab at %d columns loses the log's file name: %q", c.width, where)
			}
		})
	}

	// A long message ends at a whole word, with an ellipsis.
	d := testDB(t)
	if _, _, err := d.CreateToken(context.Background(), "okta", 0, "test"); err != nil {
		t.Fatal(err)
	}
	s := startTerm(t, newApp(testDeps(t, d, Options{})), 60, 20)
	s.keys("2")
	s.waitScreen("1 token")
	s.keys("x", "y")
	scr := s.waitScreen("✓ Token tok_")
	status := strings.TrimRight(strings.Split(scr, "\n")[18], " ")
	full := "revoked: the next request that presents it gets 401."
	cut, ok := strings.CutSuffix(status, "…")
	_, rest, _ := strings.Cut(cut, " revoked:")
	if !ok || !strings.HasPrefix(full, "revoked:"+rest+" ") {
		t.Errorf("the status line is not cut after a whole word: %q", status)
	}
}
