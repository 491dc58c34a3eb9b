package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Group is a provisioned group. Its members live in group_members, not in the document.
type Group struct {
	Seq         int64
	ID          string
	DisplayName string
	ExternalID  string
	Doc         []byte // JSON of the attributes other than id, displayName, members, meta
	Created     time.Time
	Modified    time.Time
	Version     int64
	MemberCount int // filled by ListGroups
}

// Member is a user in a group.
type Member struct {
	UserID  string
	UserSeq int64
	Display string // the user's displayName, else userName
}

const groupCols = `g.seq, g.id, g.display_name, coalesce(g.external_id, ''), g.doc, g.created_at, g.modified_at, g.version`

func scanGroup(s interface{ Scan(...any) error }, extra ...any) (Group, error) {
	var g Group
	var created, modified int64
	err := s.Scan(append([]any{&g.Seq, &g.ID, &g.DisplayName, &g.ExternalID, &g.Doc, &created, &modified, &g.Version}, extra...)...)
	g.Created, g.Modified = fromMS(created), fromMS(modified)
	return g, mapErr(err)
}

func groupByID(ctx context.Context, q querier, id string) (Group, error) {
	g, err := scanGroup(q.QueryRowContext(ctx, `SELECT `+groupCols+` FROM groups g WHERE g.id = ?`, id))
	if err == ErrNotFound {
		return g, fmt.Errorf("group %q: %w", id, ErrNotFound)
	}
	return g, err
}

// GroupByID reads one group (without its members).
func (d *DB) GroupByID(ctx context.Context, id string) (Group, error) {
	return groupByID(ctx, d.rc, id)
}

// GroupByID reads one group inside the transaction.
func (tx *Tx) GroupByID(ctx context.Context, id string) (Group, error) {
	return groupByID(ctx, tx.q, id)
}

// InsertGroup stores a new group; a displayName that differs from an existing one only in
// case is a conflict.
func (tx *Tx) InsertGroup(ctx context.Context, g *Group) error {
	g.Created, g.Modified, g.Version = tx.now, tx.now, 1
	err := tx.q.QueryRowContext(ctx, `INSERT INTO groups (id, display_name, display_name_norm, external_id, doc,
		created_at, modified_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, 1) RETURNING seq`,
		g.ID, g.DisplayName, Fold(g.DisplayName), nullStr(g.ExternalID), string(g.Doc), ms(g.Created), ms(g.Modified)).Scan(&g.Seq)
	return mapErr(err)
}

// UpdateGroup writes back a group read in this transaction, bumping its version. (Read
// in this run of the write: a write may run twice, see Write.)
func (tx *Tx) UpdateGroup(ctx context.Context, g *Group) error {
	g.Modified = tx.now
	g.Version++
	_, err := tx.q.ExecContext(ctx, `UPDATE groups SET display_name = ?, display_name_norm = ?, external_id = ?, doc = ?,
		modified_at = ?, version = ? WHERE seq = ?`,
		g.DisplayName, Fold(g.DisplayName), nullStr(g.ExternalID), string(g.Doc), ms(g.Modified), g.Version, g.Seq)
	return mapErr(err)
}

// DeleteGroup removes a group and its memberships (the users stay).
func (tx *Tx) DeleteGroup(ctx context.Context, id string) error {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM groups WHERE id = ?`, id)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("group %q: %w", id, ErrNotFound)
	}
	return nil
}

// UnknownUsersError lists member ids that name no user.
type UnknownUsersError struct{ IDs []string }

func (e *UnknownUsersError) Error() string {
	return fmt.Sprintf("no user with id %q", e.IDs[:min(len(e.IDs), 5)])
}

// resolveUsers maps user ids to seqs in one query; ids that name no user are an
// *UnknownUsersError.
func resolveUsers(ctx context.Context, q querier, ids []string) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	js, _ := json.Marshal(ids)
	rows, err := q.QueryContext(ctx, `SELECT j.value, u.seq FROM `+jsonTexts(q, "j")+` LEFT JOIN users u ON u.id = j.value ORDER BY j.key`, string(js))
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var seqs []int64
	var unknown []string
	for rows.Next() {
		var id string
		var seq *int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, mapErr(err)
		}
		if seq == nil {
			unknown = append(unknown, id)
			continue
		}
		seqs = append(seqs, *seq)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	if len(unknown) > 0 {
		return nil, &UnknownUsersError{IDs: unknown}
	}
	return seqs, nil
}

// AddMembers adds users (by id) to a group; users already in it are left as they are.
func (tx *Tx) AddMembers(ctx context.Context, groupSeq int64, userIDs []string) error {
	_, err := tx.AddMembersN(ctx, groupSeq, userIDs)
	return err
}

// AddMembersN is AddMembers, also reporting how many users were not members before.
func (tx *Tx) AddMembersN(ctx context.Context, groupSeq int64, userIDs []string) (int, error) {
	seqs, err := resolveUsers(ctx, tx.q, userIDs)
	if err != nil {
		return 0, err
	}
	res, err := tx.q.ExecContext(ctx, `INSERT INTO group_members (group_seq, user_seq)
		SELECT ?, s.value FROM (`+seqsIn(tx.q)+`) s WHERE true ON CONFLICT DO NOTHING`, groupSeq, int64sJSON(seqs))
	if err != nil {
		return 0, mapErr(err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// RemoveMembers removes users (by id) from a group and reports how many were members.
func (tx *Tx) RemoveMembers(ctx context.Context, groupSeq int64, userIDs []string) (int, error) {
	js, _ := json.Marshal(userIDs)
	res, err := tx.q.ExecContext(ctx, `DELETE FROM group_members WHERE group_seq = ?
		AND user_seq IN (SELECT u.seq FROM users u JOIN `+jsonTexts(tx.q, "j")+` ON u.id = j.value)`, groupSeq, string(js))
	if err != nil {
		return 0, mapErr(err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// memberDeleteChunk is how many memberships one write removes when a big group is
// emptied before it is deleted: a few tens of milliseconds of writer time.
const memberDeleteChunk = 5000

// ShrinkGroupForDelete removes the members of a big group a chunk at a time, each chunk
// in its own write, until at most memberDeleteChunk are left, which the delete itself
// then removes with the group in one write. Deleting a group is one SQL statement however
// many members it has, and a statement cannot be stopped half-way: without this, a group
// of a few tens of thousands of members could never be deleted within the write budget.
// A small group is left untouched, so its delete stays one atomic write.
func (d *DB) ShrinkGroupForDelete(ctx context.Context, id string) error {
	var seq int64
	if err := d.rc.QueryRowContext(ctx, `SELECT seq FROM groups WHERE id = ?`, id).Scan(&seq); err != nil {
		return mapErr(err)
	}
	for {
		var n int
		if err := d.rc.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM group_members WHERE group_seq = ? LIMIT ?) AS m`,
			seq, memberDeleteChunk+1).Scan(&n); err != nil {
			return mapErr(err)
		}
		if n <= memberDeleteChunk {
			return nil
		}
		err := d.Write(ctx, func(tx *Tx) error {
			_, err := tx.q.ExecContext(ctx, `DELETE FROM group_members WHERE group_seq = ? AND user_seq IN
				(SELECT user_seq FROM group_members WHERE group_seq = ? LIMIT ?)`, seq, seq, memberDeleteChunk)
			return mapErr(err)
		})
		if err != nil {
			return err
		}
	}
}

// ClearMembers empties a group.
func (tx *Tx) ClearMembers(ctx context.Context, groupSeq int64) error {
	_, err := tx.q.ExecContext(ctx, `DELETE FROM group_members WHERE group_seq = ?`, groupSeq)
	return mapErr(err)
}

// MembersOfGroups returns the members of each of the given groups, in one query.
func (d *DB) MembersOfGroups(ctx context.Context, groupSeqs []int64) (map[int64][]Member, error) {
	return membersOfGroups(ctx, d.rc, groupSeqs)
}

// MembersOfGroups is MembersOfGroups inside the transaction.
func (tx *Tx) MembersOfGroups(ctx context.Context, groupSeqs []int64) (map[int64][]Member, error) {
	return membersOfGroups(ctx, tx.q, groupSeqs)
}

func membersOfGroups(ctx context.Context, q querier, groupSeqs []int64) (map[int64][]Member, error) {
	out := make(map[int64][]Member, len(groupSeqs))
	if len(groupSeqs) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT m.group_seq, u.seq, u.id, CASE WHEN u.display_name <> '' THEN u.display_name ELSE u.user_name END
		FROM group_members m JOIN users u ON u.seq = m.user_seq
		WHERE m.group_seq IN (`+seqsIn(q)+`) ORDER BY m.group_seq, u.seq`, int64sJSON(groupSeqs))
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var gs int64
		var m Member
		if err := rows.Scan(&gs, &m.UserSeq, &m.UserID, &m.Display); err != nil {
			return nil, mapErr(err)
		}
		out[gs] = append(out[gs], m)
	}
	return out, mapErr(rows.Err())
}

// ListGroups returns one page of the groups matching w with their member counts (one
// query for the page, none per group), and how many match in all.
func (d *DB) ListGroups(ctx context.Context, w Where, p Page) ([]Group, int, error) {
	var out []Group
	var total int
	err := d.EachGroup(ctx, w, p, false, func(n int) error {
		total = n
		return nil
	}, func(g *Group, _ []Member) error {
		out = append(out, *g)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// ResolveMembers reads the users with the given ids as members (seq and display), in one
// query, in the order given, without repeats; ids that name no user are an
// *UnknownUsersError. A PATCH that holds a group's members in memory adds them with it.
func (tx *Tx) ResolveMembers(ctx context.Context, ids []string) ([]Member, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	js, _ := json.Marshal(ids)
	rows, err := tx.q.QueryContext(ctx, `SELECT j.value, u.seq, CASE WHEN u.display_name <> '' THEN u.display_name ELSE u.user_name END
		FROM `+jsonTexts(tx.q, "j")+` LEFT JOIN users u ON u.id = j.value ORDER BY j.key`, string(js))
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []Member
	var unknown []string
	seen := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		var seq *int64
		var display *string
		if err := rows.Scan(&id, &seq, &display); err != nil {
			return nil, mapErr(err)
		}
		if seq == nil {
			unknown = append(unknown, id)
			continue
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, Member{UserID: id, UserSeq: *seq, Display: *display})
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	if len(unknown) > 0 {
		return nil, &UnknownUsersError{IDs: unknown}
	}
	return out, nil
}

// InsertMemberSeqs adds users (by seq) to a group in one statement; members already in
// it are left as they are.
func (tx *Tx) InsertMemberSeqs(ctx context.Context, groupSeq int64, userSeqs []int64) error {
	_, err := tx.q.ExecContext(ctx, `INSERT INTO group_members (group_seq, user_seq)
		SELECT ?, s.value FROM (`+seqsIn(tx.q)+`) s WHERE true ON CONFLICT DO NOTHING`, groupSeq, int64sJSON(userSeqs))
	return mapErr(err)
}

// DeleteMemberSeqs removes users (by seq) from a group in one statement.
func (tx *Tx) DeleteMemberSeqs(ctx context.Context, groupSeq int64, userSeqs []int64) error {
	_, err := tx.q.ExecContext(ctx, `DELETE FROM group_members WHERE group_seq = ?
		AND user_seq IN (`+seqsIn(tx.q)+`)`, groupSeq, int64sJSON(userSeqs))
	return mapErr(err)
}
