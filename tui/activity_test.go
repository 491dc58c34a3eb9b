package tui

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"scimdesk/db"
)

func TestActivityHistoryLiveAndDetail(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	insert := func(e db.Event) {
		t.Helper()
		if err := d.InsertEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	insert(db.Event{Kind: "user.create", Agent: "Okta SCIM Client 1.0.0", Subject: "ann@example.com", Status: 201, Addr: "10.0.0.5"})
	insert(db.Event{Kind: "user.create", Agent: "Okta SCIM Client 1.0.0", Subject: "ann@example.com", Status: 409,
		Outcome: db.OutcomeFail, Summary: "userName ann@example.com is taken"})
	dp := testDeps(t, d, Options{})
	a := newActivity(dp)
	dr := driveTab(t, a, 100, 20)
	dr.liveFeed(dp)
	v := plain(dr.waitText("Audit log", "ann@example.com", "✓ ok 201", "✗ fail 409", "Okta"))
	if strings.Index(v, "fail 409") > strings.Index(v, "ok 201") {
		t.Error("the newest event is not on top")
	}
	dr.send(tabShownMsg{}) // the admin looks at it from now on

	// Written by another process (no nudge): the feed's next poll, within a second, finds it.
	insert(db.Event{Kind: "group.create", Agent: "Microsoft.Identity-Provisioning/1.0", Subject: "Engineering", Status: 201})
	dr.waitText("Engineering", "Entra")

	// The cursor was on the 409 at the top; the new event came above it, and the cursor
	// stayed on its event rather than on the top row.
	dr.key("enter")
	dr.waitText("userName ann@example.com is taken", "Outcome", "fail 409", "Okta SCIM Client 1.0.0")
	dr.key("esc")
	dr.waitText("newest first")
}

func TestActivityReadsOlderPages(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	for start, step := 0, seedBatch(historySize+250); start < historySize+250; start += step {
		err := d.Write(ctx, func(tx *db.Tx) error {
			for i := start; i < min(start+step, historySize+250); i++ {
				if err := tx.InsertEvent(ctx, db.Event{Kind: "user.patch", Subject: fmt.Sprintf("u%04d", i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dp := testDeps(t, d, Options{})
	a := newActivity(dp)
	dr := driveTab(t, a, 80, 20)
	dr.liveFeed(dp)
	dr.waitText("u0549")
	dr.key("end")
	dr.waitUntil("a page of older events", func() bool { return len(a.events) == historySize+pageSize })
	dr.key("end")
	dr.waitUntil("the last older events", func() bool { return len(a.events) == historySize+250 && a.noOlder })
	dr.key("end")
	dr.waitText("u0000")
}

// An empty audit log says so under the titles.
func TestActivityEmptySaysSo(t *testing.T) {
	d := testDB(t)
	dp := testDeps(t, d, Options{})
	a := newActivity(dp)
	dr := driveTab(t, a, 80, 20)
	dr.liveFeed(dp)
	v := plain(dr.waitText("Audit log", "TIME", "no events yet", "every refused token"))
	if lines := strings.Split(v, "\n"); !strings.Contains(lines[2], "no events yet") {
		t.Errorf("no line under the titles says the log is empty:\n%s", v)
	}
}

// An admin action's detail names the admin and where they acted, not a "user agent".
func TestAdminEventDetailNamesTheAdmin(t *testing.T) {
	st := newStyles(false)
	for _, c := range []struct{ agent, where string }{
		{"ssh:alice@laptop SHA256:iaDBheu+wREnlcDQngEPsciyhwZnjY4fuH7gu7bp4OU", "admin, console over SSH"},
		{"local:bob", "admin, console in a local terminal"},
		{"cli:root", "admin, command line"},
	} {
		_, lines := eventDetail(st, db.Event{ID: 1, Kind: "scim.enable", Agent: c.agent}, 100)
		page := plain(strings.Join(lines, "\n"))
		admin := regexp.MustCompile(`(?m)^Admin +` + regexp.QuoteMeta(c.agent) + `$`)
		client := regexp.MustCompile(`(?m)^Client +` + regexp.QuoteMeta(c.where) + `$`)
		if !admin.MatchString(page) || !client.MatchString(page) || strings.Contains(page, "User agent") {
			t.Errorf("%s:\n%s", c.agent, page)
		}
	}
	_, lines := eventDetail(st, db.Event{ID: 2, Kind: "user.create", Agent: "Okta SCIM Client 1.0.0"}, 100)
	if page := plain(strings.Join(lines, "\n")); !regexp.MustCompile(`(?m)^User agent +Okta SCIM Client 1\.0\.0$`).MatchString(page) || strings.Contains(page, "Admin ") {
		t.Errorf("an identity provider's event:\n%s", page)
	}
}
