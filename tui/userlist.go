package tui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// userList is a paged list of users: the Users tab, and a group's members.
type userList = paged[db.User]

// newUserList makes a user list; withCounts also counts users per status on each reload.
func newUserList(d *deps, owner string, withCounts bool) *userList {
	return newPaged[db.User](d, owner, "users", func(ctx context.Context, w db.Where, owner string, seq, offset int, fresh bool) tea.Cmd {
		return loadUsers(ctx, d, owner, seq, w, offset, fresh && withCounts)
	}, func(u db.User) string { return u.ID })
}

// viewUsers renders a user list; empty is what an empty list says.
func viewUsers(l *userList, width, height int, empty string) string {
	return l.view(userCols, width, height, empty, func(u db.User) []cell { return userCells(l.d.styles, u) })
}

var userCols = []column{
	{Title: "STATUS", Min: 13},
	{Title: "EMAIL", Min: 12, Flex: 4}, // the admin's handle on a user: give it the room
	{Title: "NAME", Min: 8, Flex: 2},
	{Title: "GROUPS", Min: 6, Flex: 1},
	{Title: "CREATED", Min: 10},
}

// userCells is one user as a list row.
func userCells(st *styles, u db.User) []cell {
	email := u.Email
	if email == "" {
		email = u.UserName
	}
	return []cell{
		statusCell(st, u.Status()),
		{Text: email},
		{Text: userName(u)},
		{Text: groupNames(u.Groups), Style: st.Dim},
		{Text: day(u.Created), Style: st.Dim},
	}
}

// statusCell shows a user's status as a symbol and a word, coloured too.
func statusCell(st *styles, status string) cell {
	switch status {
	case db.StatusReady:
		return cell{Text: "● ready", Style: st.OK}
	case db.StatusDeactivated:
		return cell{Text: "✗ deactivated", Style: st.Dim}
	}
	return cell{Text: "○ pending", Style: st.Warn}
}

// userName is the name to show: the display name, else given and family names.
func userName(u db.User) string { return u.ShownName() }

func groupNames(gs []db.GroupRef) string {
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.DisplayName
	}
	return strings.Join(names, ", ")
}

// navigate applies a list movement key through move (by a delta) and moveTo (to a row);
// it reports whether k was a movement key.
func navigate(km *keyMap, k tea.KeyPressMsg, move func(int), moveTo func(int), total, height int) bool {
	switch {
	case key.Matches(k, km.Up):
		move(-1)
	case key.Matches(k, km.Down):
		move(1)
	case key.Matches(k, km.PageUp):
		move(-max(1, height-1))
	case key.Matches(k, km.PageDown):
		move(max(1, height-1))
	case key.Matches(k, km.Top):
		moveTo(0)
	case key.Matches(k, km.Bottom):
		moveTo(total - 1)
	default:
		return false
	}
	return true
}
