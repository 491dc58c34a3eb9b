package scimserver

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"scimdesk/db"
)

// TestQueryPlans proves with EXPLAIN QUERY PLAN that the lookups the identity providers
// make and the pages they read never scan a whole table or sort it.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cases := []struct {
		filter string
		page   db.Page
	}{
		{`userName eq "a@example.com"`, db.Page{Limit: 100}},
		{`externalId eq "00u1"`, db.Page{Limit: 100}},
		{`id eq "x"`, db.Page{Limit: 1}},
		{`userName sw "a"`, db.Page{Limit: 100}},
		{`userName eq "a" or externalId eq "b"`, db.Page{Limit: 100}},
		{``, db.Page{Limit: 100, Offset: 200}},
		{``, db.Page{Limit: 100, OrderBy: userSortColumns["username"]}},
		{``, db.Page{Limit: 100, OrderBy: userSortColumns["meta.created"], Desc: true}},
	}
	for _, c := range cases {
		w, serr := translate(c.filter, userFilterSchema)
		if serr != nil {
			t.Fatal(serr)
		}
		countPlan, pagePlan, err := d.ExplainListUsers(ctx, w, c.page)
		if err != nil {
			t.Fatalf("%q: %v", c.filter, err)
		}
		for _, step := range append(countPlan, pagePlan...) {
			// A page without a filter walks the rowid or an index in order and stops after
			// LIMIT rows ("SCAN u" or "SCAN u USING INDEX"), which is fine; what must never
			// appear is a temporary sort of the whole table, or a scan when a filter asked for
			// a lookup (sorting the few rows a lookup found is fine).
			if c.filter == "" && strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("%q %+v: sorts: %v", c.filter, c.page, pagePlan)
			}
			if c.filter != "" && strings.HasPrefix(step, "SCAN u") && !strings.Contains(step, "COVERING INDEX") {
				t.Errorf("%q: scans users: count %v, page %v", c.filter, countPlan, pagePlan)
			}
		}
	}
}
