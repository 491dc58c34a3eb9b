package db

import "strings"

// The console's own list conditions. They live here, beside the other SQL, so that the tui
// package never writes SQL: it asks for a condition and hands it back to ListUsers or
// ListGroups, which page it.

// MembersOf is the condition for ListUsers that selects the members of one group, so that
// the console pages through a group of 100,000 members exactly as through all users.
func MembersOf(groupSeq int64) Where {
	return Where{SQL: "u.seq IN (SELECT m.user_seq FROM group_members m WHERE m.group_seq = ?)", Args: []any{groupSeq}}
}

// GroupQuery is the console's view of the group list: a search text.
type GroupQuery struct {
	Search string // matched, case-insensitively, inside displayName
}

// Where turns the query into a condition for ListGroups.
func (q GroupQuery) Where() Where {
	s := Fold(strings.TrimSpace(q.Search))
	if s == "" {
		return Where{}
	}
	return Where{SQL: "instr(g.display_name_norm, ?) > 0", Args: []any{s}}
}
