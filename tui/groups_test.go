package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"scimdesk/db"
)

// seedGroup makes a group with the first n seeded users as members.
func seedGroup(t *testing.T, d *db.DB, name string, n int) {
	t.Helper()
	ctx := context.Background()
	err := d.Write(ctx, func(tx *db.Tx) error {
		g := &db.Group{ID: "g-" + name, DisplayName: name, Doc: []byte(`{}`)}
		if err := tx.InsertGroup(ctx, g); err != nil {
			return err
		}
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		}
		return tx.AddMembers(ctx, g.Seq, ids)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGroupsListMembersAndFilter(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 300, 0)
	seedGroup(t, d, "Engineering", 250)
	seedGroup(t, d, "Sales", 3)
	seedGroup(t, d, "Empty", 0)
	dp := testDeps(t, d, Options{})
	g := newGroups(dp)
	dr := driveTab(t, g, 80, 20)
	dr.waitText("3 groups", "Engineering", "250", "Sales", "oldest first")

	dr.key("enter")
	dr.waitText("Members of “Engineering”", "row 1 of 250", "user00249@example.com")
	dr.key("enter") // the member's own page
	dr.waitText("User N00249", "User name", "user00249@example.com", "esc back")
	dr.key("esc")
	dr.waitText("Members of “Engineering”", "row 1 of 250")
	dr.key("end")
	dr.waitText("row 250 of 250", "user00000@example.com")
	dr.key("esc")
	dr.waitText("3 groups")

	dr.key("/")
	dr.typeText("sal")
	dr.waitText("1 group match", "Sales")
	dr.key("enter", "enter")
	dr.waitText("Members of “Sales”", "user00002@example.com")
	dr.key("esc", "/", "esc")
	dr.waitText("3 groups")
	dr.key("end", "enter")
	dr.waitText("Members of “Empty”", "no members")
}

func TestGroupsEmpty(t *testing.T) {
	d := testDB(t)
	dr := driveTab(t, newGroups(testDeps(t, d, Options{})), 80, 20)
	dr.waitText("No groups yet", "Push Groups")
}

// The empty list says so under its titles; so does a filter that matches nothing.
func TestGroupsEmptyListSaysSo(t *testing.T) {
	d := testDB(t)
	srv, post := serveSCIM(t, d)
	dp := testDeps(t, d, Options{Server: srv})
	g := newGroups(dp)
	dr := driveTab(t, g, 80, 20)
	dr.liveFeed(dp)
	v := plain(dr.waitText("NAME", "no groups yet"))
	if lines := strings.Split(v, "\n"); !strings.Contains(lines[4], "no groups yet") {
		t.Errorf("no line says the list is empty under its titles:\n%s", v)
	}
	// Pushed by the identity provider: the live feed brings it to the tab.
	post("/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Sales"}`)
	dr.waitText("1 group", "Sales")
	dr.key("/")
	dr.typeText("nothing")
	dr.waitText("no groups match", "No group matches")
}

// A very long group name is cut with an ellipsis in its members' title.
func TestGroupsLongNameInMembersTitle(t *testing.T) {
	d := testDB(t)
	seedGroup(t, d, strings.Repeat("Engineering ", 20), 0)
	g := newGroups(testDeps(t, d, Options{}))
	dr := driveTab(t, g, 80, 20)
	dr.waitText("1 group")
	dr.key("enter")
	v := plain(dr.waitText("Members of “Engineering", "esc back", "no members"))
	if title := strings.Split(v, "\n")[0]; !strings.Contains(title, "…”") || ansi.StringWidth(title) > 80 {
		t.Errorf("the title is not cut to the width with an ellipsis: %q", title)
	}
}
