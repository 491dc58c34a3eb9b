package db

import (
	"context"
	"fmt"
	"testing"
)

// consoleDB is a fresh database with users u0..u4 and groups "Engineering" (u0, u2, u4),
// "Engineering Managers" (u2) and "Sales" (none).
func consoleDB(t *testing.T, s store) (*DB, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	d := s.openDB(t)
	groups := map[string]int64{}
	err := d.Write(ctx, func(tx *Tx) error {
		for i := range 5 {
			name := fmt.Sprintf("u%d@example.com", i)
			if err := tx.InsertUser(ctx, &User{ID: fmt.Sprintf("u%d", i), UserName: name, Email: name, Active: true, Doc: []byte(`{}`)}); err != nil {
				return err
			}
		}
		for name, members := range map[string][]string{"Engineering": {"u0", "u2", "u4"}, "Engineering Managers": {"u2"}, "Sales": nil} {
			g := &Group{ID: "g-" + name, DisplayName: name, Doc: []byte(`{}`)}
			if err := tx.InsertGroup(ctx, g); err != nil {
				return err
			}
			groups[name] = g.Seq
			if err := tx.AddMembers(ctx, g.Seq, members); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, groups
}

func TestMembersOfPagesAGroup(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, groups := consoleDB(t, st)
		ctx := context.Background()
		for _, c := range []struct {
			group string
			page  Page
			want  []string
			total int
		}{
			{"Engineering", Page{Limit: 10}, []string{"u0", "u2", "u4"}, 3},
			{"Engineering", Page{Desc: true, Limit: 2}, []string{"u4", "u2"}, 3},
			{"Engineering", Page{Desc: true, Offset: 2, Limit: 2}, []string{"u0"}, 3},
			{"Engineering Managers", Page{Limit: 10}, []string{"u2"}, 1},
			{"Sales", Page{Limit: 10}, nil, 0},
		} {
			users, total, err := d.ListUsers(ctx, MembersOf(groups[c.group]), c.page)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, u := range users {
				ids = append(ids, u.ID)
			}
			if total != c.total || fmt.Sprint(ids) != fmt.Sprint(c.want) {
				t.Errorf("%s %+v: got %v of %d, want %v of %d", c.group, c.page, ids, total, c.want, c.total)
			}
		}
	})
}

func TestGroupQuerySearchesNamesCaseInsensitively(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := consoleDB(t, st)
		ctx := context.Background()
		for search, want := range map[string]int{"": 3, "engineering": 2, "  MANAGERS ": 1, "sal": 1, "nothing": 0} {
			gs, total, err := d.ListGroups(ctx, GroupQuery{Search: search}.Where(), Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if total != want || len(gs) != want {
				t.Errorf("search %q: %d groups (total %d), want %d", search, len(gs), total, want)
			}
		}
	})
}
