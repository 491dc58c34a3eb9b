package tui

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
)

func TestUsersPagesThroughManyUsers(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 1000, 10)
	dp := testDeps(t, d, Options{})
	u := newUsers(dp)
	dr := driveTab(t, u, 80, 20)
	dr.waitText("1,000 users", "900 pending", "100 deactivated", "row 1 of 1,000", "user00999@example.com")
	if n := len(u.list.win.rows); n > pageSize {
		t.Fatalf("%d rows in memory, want at most a page (%d)", n, pageSize)
	}

	dr.key("end") // the oldest user is on another page
	dr.waitText("row 1,000 of 1,000", "user00000@example.com")
	if n := len(u.list.win.rows); n > pageSize {
		t.Fatalf("%d rows in memory after paging", n)
	}
	dr.key("home")
	dr.waitText("row 1 of 1,000", "user00999@example.com")
	for range 30 {
		dr.key("pgdown")
	}
	dr.waitFor("rows around the cursor", func(string) bool {
		_, ok := u.list.win.selected()
		return ok && !u.list.loading
	})
}

func TestUsersFilterDebouncesAndDropsStaleAnswers(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 1000, 0)
	dp := testDeps(t, d, Options{})
	u := newUsers(dp)
	dr := driveTab(t, u, 80, 20)
	dr.waitText("row 1 of 1,000")

	dr.key("/")
	if !u.Capturing() {
		t.Fatal("the filter does not capture keys")
	}
	seqBefore := u.list.seq
	dr.typeText("user0099")
	if u.list.seq != seqBefore {
		t.Fatal("typing queried the database at once instead of after a pause")
	}
	dr.waitText("row 1 of 10", "user00999@example.com")
	if got := u.list.seq - seqBefore; got != 1 {
		t.Errorf("%d queries for one typing burst, want 1", got)
	}
	dr.key("enter")
	if u.Capturing() {
		t.Fatal("enter does not leave the filter")
	}
	dr.waitText("/ user0099")

	// A debounce overtaken by more typing runs nothing.
	dr.send(debounceMsg{Owner: "users", Seq: u.filter.seq - 1})
	if u.list.seq != seqBefore+1 {
		t.Error("a stale debounce ran a query")
	}
	// An answer to an overtaken request is dropped.
	old := usersMsg{Owner: "users", Seq: u.list.seq - 1, Total: 5}
	dr.send(old)
	if u.list.win.total != 10 {
		t.Error("a stale answer replaced the list")
	}

	dr.key("s") // pending only
	dr.waitText("showing pending", "row 1 of 10")
	dr.key("s", "s", "s") // back to all
	dr.waitText("showing all")

	dr.key("/", "esc")
	dr.waitText("row 1 of 1,000")

	// The NAME column of these users is made of givenName and familyName (they have no
	// displayName): what the admin reads there finds them.
	dr.key("/")
	dr.typeText("user n00042")
	v := plain(dr.waitText("row 1 of 1", "user00042@example.com", "User N00042"))
	if strings.Contains(v, "user00041@example.com") {
		t.Errorf("the name filter shows other users:\n%s", v)
	}
	dr.key("esc")
	dr.waitText("row 1 of 1,000")
}

func TestUsersDetailAndSetupCode(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 3, 0)
	ctx := context.Background()
	// user00000 is deactivated; user00001 stays pending.
	err := d.Write(ctx, func(tx *db.Tx) error {
		usr, err := tx.UserByID(ctx, "00000000-0000-4000-8000-000000000000")
		if err != nil {
			return err
		}
		usr.Active = false
		return tx.UpdateUser(ctx, &usr)
	})
	if err != nil {
		t.Fatal(err)
	}
	dp := testDeps(t, d, Options{})
	u := newUsers(dp)
	dr := driveTab(t, u, 80, 24)
	dr.waitText("3 users", "user00002@example.com")

	dr.key("enter")
	dr.waitText("User name", "user00002@example.com", "pending: active, has not set up a master key", "Attributes from the identity provider")
	dr.key("esc")
	dr.waitText("row 1 of 3")

	dr.key("i")
	dr.waitText("Issue a setup code for user00002@example.com?")
	dr.key("y")
	v := plain(dr.waitText("Setup code for user00002@example.com", "scimdesk setup --server"))
	code := ""
	for _, l := range strings.Split(v, "\n") {
		if f := strings.TrimSpace(l); len(f) == 23 && f[5] == '-' {
			code = f
		}
	}
	if code == "" {
		t.Fatalf("no code on screen:\n%s", v)
	}
	if _, err := d.CheckSetupCode(ctx, "user00002@example.com", code, db.PurposeSetup, time.Now()); err != nil {
		t.Fatalf("the code shown does not check: %v", err)
	}
	dr.key("c")
	dr.waitUntil("the command and the code on the clipboard", func() bool {
		return strings.Contains(dr.clipboard, code) && strings.Contains(dr.clipboard, "scimdesk setup --server")
	})
	dr.key("esc")
	if strings.Contains(plain(dr.view()), code) {
		t.Fatal("the code survived closing its screen")
	}

	dr.key("end") // the deactivated user
	dr.waitText("row 3 of 3")
	dr.key("i")
	dr.waitStatus("This user is deactivated")
}

// Users an identity provider creates through the server show up on the tab by themselves:
// the live feed sees the server's events and the tab reads its page again. That holds for
// a user created between the tab's first read and the feed's first poll too, whose event
// is in that poll's history rather than among new events.
func TestUsersFollowLiveChanges(t *testing.T) {
	d := testDB(t)
	srv, post := serveSCIM(t, d)
	dp := testDeps(t, d, Options{Server: srv})
	u := newUsers(dp)
	dr := driveTab(t, u, 80, 20)
	dr.waitText("No users yet")
	post("/Users", `{"userName":"ann@example.com"}`)
	dr.liveFeed(dp)
	dr.waitText("1 user", "ann@example.com")
	post("/Users", `{"userName":"bob@example.com"}`)
	post("/Users", `{"userName":"cy@example.com"}`)
	dr.waitText("3 users", "ann@example.com", "bob@example.com", "cy@example.com")
}

// insertUser stores one pending user with these names.
func insertUser(t *testing.T, d *db.DB, id, userName, displayName string) {
	t.Helper()
	ctx := context.Background()
	err := d.Write(ctx, func(tx *db.Tx) error {
		doc, _ := json.Marshal(map[string]any{"userName": userName, "displayName": displayName})
		return tx.InsertUser(ctx, &db.User{ID: id, UserName: userName, Email: userName, DisplayName: displayName, Active: true, Doc: doc})
	})
	if err != nil {
		t.Fatal(err)
	}
}

const longUserName = "a.very.long.username.that.goes.on.and.on@subdomain.example-corporation.com"

// A long user name stays inside the question's box and the setup code's screen at 80x24.
func TestUsersLongNameFitsTheDialogs(t *testing.T) {
	d := testDB(t)
	insertUser(t, d, "00000000-0000-4000-8000-000000000001", longUserName, "Long Name")
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 80, 24)
	dr.key("3")
	dr.waitText("row 1 of 1")

	dr.key("i")
	v := dr.waitText("Issue a setup code for", "y yes")
	checkFits(t, v, 80, 24)
	checkBox(t, plain(v))
	// The name is wrapped in the box, whole.
	if got := strings.Join(strings.Fields(strings.NewReplacer("│", "", "\n", "").Replace(plain(v))), ""); !strings.Contains(got, longUserName+"?") {
		t.Errorf("the question lost part of the name:\n%s", plain(v))
	}

	dr.key("y")
	v = dr.waitText("Setup code for", "scimdesk setup --server")
	checkFits(t, v, 80, 24)
	for _, l := range strings.Split(plain(v), "\n") {
		if strings.HasPrefix(l, "✓ Setup code for") && !strings.Contains(l, "a.very.long") {
			t.Errorf("the heading does not start the name: %q", l)
		}
	}

	// A huge name: at most two lines, with an ellipsis.
	u := a.tabs[2].(*users)
	u.code.code.UserName = strings.Repeat("x", 5000) + "@example.com"
	v = plain(u.code.view(80))
	if n := strings.Count(v, "xxxxxxxxxx\n") + strings.Count(v, "xxxxxxxxxx…"); n > 2 || !strings.Contains(v, "x…") {
		t.Errorf("a huge user name takes %d lines, or has no ellipsis:\n%s", n, v)
	}
}

// checkBox fails unless every line of the dialog box in view has both borders.
func checkBox(t *testing.T, view string) {
	t.Helper()
	in := false
	for _, l := range strings.Split(view, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "╭"):
			in = true
			if !strings.HasSuffix(l, "╮") {
				t.Errorf("the box's top lacks its right corner: %q", l)
			}
		case strings.HasPrefix(l, "╰"):
			in = false
			if !strings.HasSuffix(l, "╯") {
				t.Errorf("the box's bottom lacks its right corner: %q", l)
			}
		case in && (!strings.HasPrefix(l, "│") || !strings.HasSuffix(l, "│")):
			t.Errorf("a box line lacks a border: %q", l)
		}
	}
}

// A megabyte displayName is cut to a few lines: the fields after it stay on screen, and
// drawing the page stays fast.
func TestUsersDetailHugeValue(t *testing.T) {
	d := testDB(t)
	huge := strings.Repeat("X", 1<<20)
	insertUser(t, d, "00000000-0000-4000-8000-000000000000", "other@example.com", "Other")
	insertUser(t, d, "00000000-0000-4000-8000-000000000001", "huge@example.com", huge) // newest: row 1
	seedGroup(t, d, "Engineering", 2)
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 80, 24)
	dr.key("3")
	dr.waitText("row 1 of 2", "huge@example.com")
	dr.key("enter")
	start := time.Now()
	v := dr.waitText("Display name", "Status", "ID", "Groups", "Engineering", "Created")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the page took %v", took)
	}
	checkFits(t, v, 80, 24)
	lines := strings.Split(plain(v), "\n")
	if !strings.HasSuffix(strings.TrimSpace(lines[2]), "esc back") || !strings.Contains(lines[2], "…") {
		t.Errorf("the title is not cut with an ellipsis: %q", lines[2])
	}
	xs := 0
	for _, l := range lines {
		if strings.Contains(l, "XXXXXXXXXX") {
			xs++
		}
	}
	if xs > 1+fieldLines+2 { // the title, the field, and the start of the raw attributes
		t.Errorf("the display name takes %d lines:\n%s", xs, plain(v))
	}
	if !strings.Contains(plain(v), "X…") {
		t.Error("the display name is cut without an ellipsis")
	}

	// The raw attributes scroll, in lines that fit, and a huge one is cut too.
	start = time.Now()
	for range 60 {
		dr.key("pgdown")
	}
	v = dr.view()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("scrolling took %v", took)
	}
	checkFits(t, v, 80, 24)
	if !strings.Contains(plain(v), "…") {
		t.Errorf("the raw displayName is not cut:\n%s", plain(v))
	}
}

// An empty list says so where the rows go.
func TestUsersEmptyListSaysSo(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 3, 0)
	dp := testDeps(t, d, Options{})
	u := newUsers(dp)
	dr := driveTab(t, u, 80, 24)
	dr.waitText("row 1 of 3")

	dr.key("s", "s") // ready: none
	v := plain(dr.waitText("showing ready", "no users match"))
	lines := strings.Split(v, "\n")
	if !strings.Contains(lines[3], "STATUS") || !strings.Contains(lines[4], "no users match") {
		t.Errorf("the empty list does not say so under its titles:\n%s", v)
	}
	dr.key("s", "s") // all again
	dr.waitText("row 1 of 3")

	dr.key("/")
	dr.typeText("nobody")
	dr.waitText("no users match", "No user matches")
	dr.key("esc")
	dr.waitText("row 1 of 3")
}
