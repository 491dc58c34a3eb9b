package tui

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
)

// selectedLine is the line of the screen with the cursor mark on it.
func selectedLine(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), "› ") {
			return l
		}
	}
	return ""
}

// On tab 3, the admin has the cursor on a user when Okta provisions a new one: the new
// user appears above, and the cursor stays on the admin's user, so enter and i act on
// that user, not on the one that took the row.
func TestFlowSelectionFollowsTheUser(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 30, 0)
	srv, post := serveSCIM(t, d)
	s := startTerm(t, newApp(testDeps(t, d, Options{Server: srv})), 100, 30)
	s.keys("3")
	s.waitScreen("30 users", "row 1 of 30")
	s.keys("down", "down", "down")
	scr := s.waitScreen("row 4 of 30")
	if l := selectedLine(scr); !strings.Contains(l, "user00026@example.com") {
		t.Fatalf("the cursor is not on user00026: %q", l)
	}
	post("/Users", `{"userName":"new.hire@example.com"}`)
	scr = s.waitScreen("31 users", "new.hire@example.com", "row 5 of 31")
	if l := selectedLine(scr); !strings.Contains(l, "user00026@example.com") {
		t.Fatalf("the cursor left its user when a new one arrived: %q\n%s", l, scr)
	}
	s.keys("i")
	s.waitScreen("Issue a setup code for user00026@example.com?")
	s.keys("n", "enter")
	s.waitScreen("User name", "user00026@example.com")
}

// Users provisioned while the admin is on another tab: tab 3 opens on the newest user
// (the first row), not on whichever user happened to be first when the list was read.
// Once the tab is shown, the cursor holds its user.
func TestFlowUnwatchedListOpensOnTheNewest(t *testing.T) {
	d := testDB(t)
	srv, post := serveSCIM(t, d)
	s := startTerm(t, newApp(testDeps(t, d, Options{Server: srv})), 100, 30)
	s.waitScreen("SCIM URL")
	for _, n := range []string{"first", "second", "third"} {
		post("/Users", `{"userName":"`+n+`@example.com"}`)
	}
	s.waitScreen("3 served")
	s.keys("3")
	scr := s.waitScreen("3 users", "row 1 of 3")
	if l := selectedLine(scr); !strings.Contains(l, "third@example.com") {
		t.Fatalf("tab 3 opened away from the newest user: %q\n%s", l, scr)
	}
	post("/Users", `{"userName":"fourth@example.com"}`)
	scr = s.waitScreen("4 users", "row 2 of 4")
	if l := selectedLine(scr); !strings.Contains(l, "third@example.com") {
		t.Fatalf("shown, the cursor left its user: %q\n%s", l, scr)
	}
}

// A burst of users larger than the page held around the cursor: the cursor still finds its
// user, on the page where the burst pushed it.
func TestUsersSelectionFollowsPastAPage(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 1000, 0)
	dp := testDeps(t, d, Options{})
	u := newUsers(dp)
	dr := driveTab(t, u, 100, 30)
	dr.liveFeed(dp)
	dr.waitText("row 1 of 1,000")
	for range 5 {
		dr.key("pgdown")
	}
	dr.waitUntil("the rows around the cursor", func() bool { _, ok := u.list.win.selected(); return ok && !u.list.loading })
	before, _ := u.list.win.selected()

	// 300 users (in batches the write budget allows under the race detector), then the
	// event that tells the console (as a SCIM write does): one refresh sees them all.
	ctx := context.Background()
	for start, step := 0, seedBatch(300); start < 300; start += step {
		err := d.Write(ctx, func(tx *db.Tx) error {
			for i := start; i < min(start+step, 300); i++ {
				name := fmt.Sprintf("burst%03d@example.com", i)
				if err := tx.InsertUser(ctx, &db.User{ID: fmt.Sprintf("10000000-0000-4000-8000-%012d", i), UserName: name, Email: name,
					Active: true, Doc: []byte(`{}`)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := d.InsertEvent(ctx, db.Event{Kind: "user.create", Subject: "burst"}); err != nil {
		t.Fatal(err)
	}
	dr.waitText("1,300 users")
	dr.waitUntil("the cursor back on its user", func() bool {
		row, ok := u.list.win.selected()
		return ok && row.ID == before.ID && !u.list.loading
	})
	if want := fmt.Sprintf("row %s of 1,300", commas(u.list.win.cursor+1)); !strings.Contains(plain(dr.view()), want) || u.list.win.cursor < 300 {
		t.Errorf("the cursor is on row %d, want the user's new row (%s):\n%s", u.list.win.cursor+1, want, plain(dr.view()))
	}
}

// Tokens and groups keep their selection too: a token made elsewhere (the CLI) comes
// first in the list, a group deleted above the cursor takes its row away.
func TestTokensAndGroupsSelectionFollows(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	for _, desc := range []string{"entra", "okta", "spare"} {
		if _, _, err := d.CreateToken(ctx, desc, 0, "test"); err != nil {
			t.Fatal(err)
		}
	}
	dp := testDeps(t, d, Options{})
	tk := newTokens(dp)
	dr := driveTab(t, tk, 100, 24)
	dr.send(tabShownMsg{}) // the admin looks at the tab, as the app tells a tab it switches to
	dr.liveFeed(dp)
	dr.waitText("3 tokens", "spare")
	for range 3 { // made in the same millisecond, the three may come in any order
		if tok, _ := tk.selected(); tok.Description == "okta" {
			break
		}
		dr.key("down")
	}
	if tok, _ := tk.selected(); tok.Description != "okta" {
		t.Fatalf("selected %q, want okta:\n%s", tok.Description, plain(dr.view()))
	}
	if _, _, err := d.CreateToken(ctx, "newer", 0, "cli:test"); err != nil {
		t.Fatal(err)
	}
	dr.waitText("4 tokens", "newer")
	if tok, _ := tk.selected(); tok.Description != "okta" {
		t.Errorf("after a token was made elsewhere the cursor is on %q, want okta", tok.Description)
	}

	seedUsers(t, d, 3, 0)
	seedGroup(t, d, "Alpha", 1)
	seedGroup(t, d, "Beta", 1)
	seedGroup(t, d, "Gamma", 1)
	srv, _ := serveSCIM(t, d)
	dp = testDeps(t, d, Options{Server: srv})
	g := newGroups(dp)
	dr = driveTab(t, g, 100, 24)
	dr.send(tabShownMsg{})
	dr.liveFeed(dp)
	dr.waitText("3 groups", "Gamma", "oldest first")
	dr.key("end")
	dr.waitText("row 3 of 3")
	// Okta deletes the first group.
	_, secret, err := d.CreateToken(ctx, "okta-groups", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("DELETE", srv.SCIMURL()+"/Groups/g-Alpha", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s", res.Status)
	}
	dr.waitText("2 groups", "row 2 of 2")
	if grp, _ := g.list.win.selected(); grp.DisplayName != "Gamma" {
		t.Errorf("after a group above was deleted the cursor is on %q, want Gamma", grp.DisplayName)
	}
}

// Okta's Test Connector Configuration shows on tab 5, as tab 1 says it will: the request,
// the client and the outcome.
func TestFlowConnectionTestShowsInActivity(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	srv := startServer(t, d)
	if err := d.SetSCIMEnabled(ctx, true, "test"); err != nil {
		t.Fatal(err)
	}
	_, secret, err := d.CreateToken(ctx, "okta", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	s := startTerm(t, newApp(testDeps(t, d, Options{Server: srv})), 100, 30)
	s.keys("5")
	s.waitScreen("Audit log", "token.create")
	req, _ := http.NewRequest("GET", srv.SCIMURL()+"/Users?startIndex=1&count=1", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("User-Agent", "Okta SCIM Client 1.0.0")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /Users: %s", res.Status)
	}
	scr := s.waitScreen("scim.test", "Okta", "GET /Users?startIndex=1&count=1", "✓ ok 200")
	if l := selectedLine(scr); !strings.Contains(l, "token.create") {
		t.Errorf("the cursor left the event it was on: %q", l)
	}
	s.keys("k", "enter")
	s.waitScreen("connection test", "first request with this token", "Okta SCIM Client 1.0.0")
}

// The Activity tab's filters: "/" by kind, user, outcome or token; f for failures only;
// a deactivation said as such; a date on events before today; j/k stepping through events
// in the detail page; and, on a wider screen, the token and summary in columns of their own.
func TestActivityFiltersAndDetail(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	old := time.Now().Add(-72 * time.Hour)
	for _, e := range []db.Event{
		{Kind: "user.create", At: old, Agent: "Okta SCIM Client 1.0.0", Subject: "old@example.com", Status: 201, TokenID: "tok_000000000old"},
		{Kind: "user.create", Agent: "Okta SCIM Client 1.0.0", Subject: "ann@example.com", Status: 201, TokenID: "tok_aaaaaaaaaaaa", Summary: "created user ann@example.com"},
		{Kind: "user.patch", Agent: "Okta SCIM Client 1.0.0", Subject: "bob@example.com", Status: 200, TokenID: "tok_bbbbbbbbbbbb", Summary: "deactivated user bob@example.com"},
		{Kind: "user.replace", Agent: "Microsoft.Identity-Provisioning/1.0", Subject: "cy@example.com", Status: 200, TokenID: "tok_bbbbbbbbbbbb", Summary: "replaced user cy@example.com (deactivated)"},
		{Kind: "auth.refused", Agent: "curl/8", Subject: "GET /scim/v2/Users", Status: 401, Outcome: db.OutcomeFail, Summary: "unknown token"},
	} {
		if err := d.InsertEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	dp := testDeps(t, d, Options{})
	a := newActivity(dp)
	dr := driveTab(t, a, 100, 20)
	dr.liveFeed(dp)
	v := plain(dr.waitText("auth.refused", "old@example.com"))
	if strings.Count(v, "user.deactivate") != 2 {
		t.Errorf("a PATCH and a PUT that deactivate do not both show as user.deactivate:\n%s", v)
	}
	for _, l := range strings.Split(v, "\n") {
		if strings.Contains(l, "old@example.com") && !strings.Contains(l, old.Local().Format("Jan 02 15:04")) {
			t.Errorf("the event of three days ago has no date: %q", l)
		}
		if strings.Contains(l, "ann@example.com") && strings.Contains(l, time.Now().Format("Jan 02")) {
			t.Errorf("today's event carries a date: %q", l)
		}
	}

	dr.key("/")
	dr.typeText("bob")
	v = plain(dr.waitText("1 match"))
	if !strings.Contains(v, "bob@example.com") || strings.Contains(v, "ann@example.com") {
		t.Errorf("filter bob:\n%s", v)
	}
	dr.key("enter", "esc")
	dr.waitText("old@example.com", "ann@example.com")
	// Words match from their start: "oken" is inside "token" and "unknown token", no more.
	dr.key("/")
	dr.typeText("oken")
	dr.waitText("no events match", "esc clears the filter")
	dr.key("esc")
	dr.waitText("old@example.com", "ann@example.com")
	dr.key("/")
	dr.typeText("tok_bbbb")
	v = plain(dr.waitText("2 match"))
	if !strings.Contains(v, "cy@example.com") || strings.Contains(v, "ann@example.com") {
		t.Errorf("filter by token:\n%s", v)
	}
	dr.key("enter", "esc", "f")
	v = plain(dr.waitText("failures only", "1 match"))
	if !strings.Contains(v, "auth.refused") || strings.Contains(v, "ann@example.com") {
		t.Errorf("failures only:\n%s", v)
	}
	dr.key("f", "/")
	dr.typeText("fail")
	dr.waitText("auth.refused", "1 match")
	dr.key("esc")
	dr.waitText("ann@example.com", "auth.refused")

	// j and k step through the events without leaving the detail page.
	dr.key("home", "enter")
	dr.waitText("auth.refused", "unknown token", "event 1 of 5")
	dr.key("j")
	dr.waitText("user.deactivate", "replaced user cy@example.com", "event 2 of 5")
	dr.key("j", "j", "k")
	dr.waitText("deactivated user bob@example.com", "event 3 of 5")
	dr.key("esc")
	if l := selectedLine(plain(dr.view())); !strings.Contains(l, "bob@example.com") {
		t.Errorf("back in the list the cursor is not on the event shown last: %q", l)
	}

	// At 130 columns the token and the summary get columns of their own.
	a.SetSize(130, 20)
	v = plain(dr.waitText("TOKEN", "SUMMARY"))
	for _, l := range strings.Split(v, "\n") {
		if strings.Contains(l, "ann@example.com") && !strings.Contains(l, "tok_aaaaaaaaaaaa") {
			t.Errorf("no token column at 130 columns: %q", l)
		}
	}
}

// From 140 columns the users, groups and activity tabs show the selected row's details in
// a pane beside the list; at 100 they do not, and the list takes the width.
func TestFlowWideTerminalShowsDetailPane(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 5, 0)
	seedGroup(t, d, "Engineering", 3)
	ctx := context.Background()
	if err := d.InsertEvent(ctx, db.Event{Kind: "user.create", Agent: "Okta SCIM Client 1.0.0", Subject: "user00004@example.com",
		Status: 201, Summary: "created user user00004@example.com"}); err != nil {
		t.Fatal(err)
	}
	s := startTerm(t, newApp(testDeps(t, d, Options{})), 160, 40)
	s.keys("3")
	scr := s.waitScreen("5 users", "│ User N", "External ID")
	checkPane(t, scr, "user00004@example.com", "User name")
	s.keys("down")
	scr = s.waitScreen("row 2 of 5")
	if !strings.Contains(paneOf(scr), "user00003@example.com") {
		t.Errorf("the pane does not follow the cursor:\n%s", scr)
	}
	s.keys("4")
	scr = s.waitScreen("1 group", "oldest first")
	checkPane(t, scr, "Engineering", "Members")
	s.keys("enter")
	scr = s.waitScreen("Members of “Engineering”", "row 1 of 3")
	checkPane(t, scr, "user00002@example.com", "User name")
	s.keys("enter") // enter on a member opens that user, on a page of its own
	scr = s.waitScreen("User N00002  ○ pending   esc back", "Attributes from the identity provider")
	if strings.Contains(scr, "Members of") {
		t.Errorf("enter on a member did not open the user:\n%s", scr)
	}
	s.keys("esc")
	s.waitScreen("Members of “Engineering”")
	s.keys("esc", "5")
	scr = s.waitScreen("Audit log", "user.create")
	checkPane(t, scr, "created user user00004@example.com", "Summary")

	// 100 columns: no pane, the list takes the width.
	s = startTerm(t, newApp(testDeps(t, d, Options{})), 100, 30)
	s.keys("3")
	scr = s.waitScreen("5 users", "row 1 of 5")
	if strings.Contains(scr, "│ ") || strings.Contains(scr, "External ID") {
		t.Errorf("a pane at 100 columns:\n%s", scr)
	}
	if l := selectedLine(scr); len(strings.TrimRight(l, " ")) < 80 {
		t.Errorf("the list does not use the width: %q", l)
	}
}

// paneOf is the right-hand column of a screen split by the pane rule.
func paneOf(screen string) string {
	var b strings.Builder
	for _, l := range strings.Split(screen, "\n") {
		if _, r, ok := strings.Cut(l, " │ "); ok {
			b.WriteString(r + "\n")
		}
	}
	return b.String()
}

// checkPane fails unless the screen has a pane beside the list holding every text, and
// the list's lines stop at the rule.
func checkPane(t *testing.T, screen string, texts ...string) {
	t.Helper()
	pane := paneOf(screen)
	if strings.Count(screen, " │") < 20 {
		t.Fatalf("no pane beside the list:\n%s", screen)
	}
	for _, s := range texts {
		if !strings.Contains(pane, s) {
			t.Errorf("the pane lacks %q:\n%s", s, screen)
		}
	}
}

// insertEvents writes n events, subjects made by name(i), in one transaction.
func insertEvents(t *testing.T, d *db.DB, n int, name func(i int) string) {
	t.Helper()
	ctx := context.Background()
	for start, step := 0, seedBatch(n); start < n; start += step {
		err := d.Write(ctx, func(tx *db.Tx) error {
			for i := start; i < min(start+step, n); i++ {
				if err := tx.InsertEvent(ctx, db.Event{Kind: "user.patch", Subject: name(i), Status: 200}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// New events push the selected one down; once they push it past the screen, the view
// follows it and the heading says how many newer events are above, until g goes up.
func TestActivityNewerAboveTheView(t *testing.T) {
	d := testDB(t)
	insertEvents(t, d, 10, func(i int) string { return fmt.Sprintf("first%02d", i) })
	dp := testDeps(t, d, Options{})
	a := newActivity(dp)
	dr := driveTab(t, a, 80, 20)
	dr.liveFeed(dp)
	dr.waitText("first09")
	dr.send(tabShownMsg{})
	insertEvents(t, d, 30, func(i int) string { return fmt.Sprintf("later%02d", i) })
	v := plain(dr.waitText("↑ 15 newer (g)"))
	if l := selectedLine(v); !strings.Contains(l, "first09") {
		t.Errorf("the cursor left its event: %q\n%s", l, v)
	}
	dr.key("g")
	v = plain(dr.waitText("later29"))
	if strings.Contains(v, "newer (g)") {
		t.Errorf("the note stays at the top:\n%s", v)
	}
}

// Events that arrive while the tab is not on screen leave a cursor at the top on the
// newest event, so the tab opens on the latest activity; once shown, it holds still.
func TestActivityUnwatchedStaysOnTheNewest(t *testing.T) {
	d := testDB(t)
	insertEvents(t, d, 3, func(i int) string { return fmt.Sprintf("first%02d", i) })
	dp := testDeps(t, d, Options{})
	a := newActivity(dp)
	dr := driveTab(t, a, 80, 20)
	dr.liveFeed(dp)
	dr.waitText("first02")
	insertEvents(t, d, 3, func(i int) string { return fmt.Sprintf("later%02d", i) })
	v := plain(dr.waitText("later02"))
	if l := selectedLine(v); !strings.Contains(l, "later02") {
		t.Errorf("unwatched, the cursor stayed on an old event: %q\n%s", l, v)
	}
	dr.send(tabShownMsg{})
	insertEvents(t, d, 1, func(i int) string { return "watched" })
	v = plain(dr.waitText("watched"))
	if l := selectedLine(v); !strings.Contains(l, "later02") {
		t.Errorf("shown, the cursor left its event: %q\n%s", l, v)
	}
	dr.send(tabLeftMsg{})
	dr.send(tabShownMsg{})
	if l := selectedLine(plain(dr.view())); !strings.Contains(l, "later02") {
		t.Errorf("switching back moved the cursor: %q", l)
	}
}

// A filter that matches nothing among the recent events reads older pages until it
// finds its events or has searched the whole log.
func TestActivityFilterReadsOlderEvents(t *testing.T) {
	d := testDB(t)
	insertEvents(t, d, historySize+250, func(i int) string {
		if i == 3 {
			return "needle@example.com"
		}
		return fmt.Sprintf("hay%04d", i)
	})
	dp := testDeps(t, d, Options{})
	a := newActivity(dp)
	dr := driveTab(t, a, 80, 20)
	dr.liveFeed(dp)
	dr.waitText("hay0549")
	dr.key("/")
	dr.typeText("needle")
	dr.waitText("needle@example.com", "1 match", "Searched the whole audit log (550 events)")
}
