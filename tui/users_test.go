package tui

import (
	"context"
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
		if f := strings.TrimSpace(l); len(f) == 11 && f[5] == '-' {
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
	dr.waitStatus("Only pending users")
}

func TestUsersFollowLiveChanges(t *testing.T) {
	d := testDB(t)
	dp := testDeps(t, d, Options{})
	u := newUsers(dp)
	dr := driveTab(t, u, 80, 20)
	dr.waitText("No users yet")
	seedUsers(t, d, 2, 0)
	// The feed's poll says a user was created; the tab reads its page again.
	dr.send(pollMsg{Events: []db.Event{{ID: 1, Kind: "user.create", Outcome: db.OutcomeOK}}})
	dr.waitText("2 users", "user00001@example.com")
}
