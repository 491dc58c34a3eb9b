package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// User states, derived rather than stored: a user is deactivated when the identity
// provider says active=false, ready once they have set up their master key, else pending.
const (
	StatusPending     = "pending"
	StatusReady       = "ready"
	StatusDeactivated = "deactivated"
)

// User is a provisioned user: its SCIM document plus the columns lists and filters need.
// The SCIM server owns the document's shape and fills the columns from it.
type User struct {
	Seq         int64
	ID          string
	UserName    string
	ExternalID  string
	DisplayName string
	GivenName   string
	FamilyName  string
	Email       string
	Active      bool
	Doc         []byte // JSON
	Created     time.Time
	Modified    time.Time
	Version     int64
	HasKey      bool       // read only: the user finished key setup
	Groups      []GroupRef // read only: the groups the user is a member of

	loaded *userColumns // the columns as read, so an update writes only what changed
}

// userColumns are the indexed columns of a user: rewriting an unchanged one still costs
// index page writes, so UpdateUser skips them.
type userColumns struct {
	userName, externalID, displayName, givenName, familyName, email string
	active                                                          bool
}

func (u *User) columns() userColumns {
	return userColumns{u.UserName, u.ExternalID, u.DisplayName, u.GivenName, u.FamilyName, u.Email, u.Active}
}

// ShownName is the name lists show: the display name, else the given and family names.
// UserQuery's search matches the same text.
func (u User) ShownName() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return strings.TrimSpace(u.GivenName + " " + u.FamilyName)
}

// Status is pending, ready or deactivated.
func (u User) Status() string {
	switch {
	case !u.Active:
		return StatusDeactivated
	case u.HasKey:
		return StatusReady
	}
	return StatusPending
}

// userCols reads a user with its key state; userColsWithGroups adds its groups in the same
// query (one index probe per user), which suits single reads. Lists read the groups of a
// whole page in one extra query instead (groupsOfUsers), which is cheaper than a
// correlated subquery for every row.
const userCols = `u.seq, u.id, u.user_name, coalesce(u.external_id, ''), u.display_name, u.given_name, u.family_name,
	u.email, u.active, u.doc, u.created_at, u.modified_at, u.version,
	EXISTS (SELECT 1 FROM user_keys k WHERE k.user_seq = u.seq)`

// userColsWithGroups is userCols and the user's groups as a JSON array of [id, name] pairs.
func userColsWithGroups(pg bool) string {
	if pg {
		return userCols + `,
	(SELECT coalesce(json_agg(json_build_array(g.id, g.display_name) ORDER BY g.seq)::text, '[]')
		FROM group_members m JOIN groups g ON g.seq = m.group_seq WHERE m.user_seq = u.seq)`
	}
	return userCols + `,
	(SELECT json_group_array(json_array(g.id, g.display_name)) FROM group_members m JOIN groups g ON g.seq = m.group_seq
		WHERE m.user_seq = u.seq)`
}

func scanUser(s interface{ Scan(...any) error }, withGroups bool) (User, error) {
	var u User
	var created, modified int64
	var groups []byte
	dest := []any{&u.Seq, &u.ID, &u.UserName, &u.ExternalID, &u.DisplayName, &u.GivenName, &u.FamilyName,
		&u.Email, &u.Active, &u.Doc, &created, &modified, &u.Version, &u.HasKey}
	if withGroups {
		dest = append(dest, &groups)
	}
	err := s.Scan(dest...)
	if err != nil {
		return u, mapErr(err)
	}
	cols := u.columns()
	u.loaded = &cols
	u.Created, u.Modified = fromMS(created), fromMS(modified)
	if len(groups) > 2 { // "[]" when the user is in no group
		var pairs [][2]string
		if err := json.Unmarshal(groups, &pairs); err != nil {
			return u, fmt.Errorf("read groups of user %s: %w", u.ID, err)
		}
		u.Groups = make([]GroupRef, len(pairs))
		for i, p := range pairs {
			u.Groups[i] = GroupRef{ID: p[0], DisplayName: p[1]}
		}
	}
	return u, nil
}

func userByID(ctx context.Context, q querier, id string, withGroups bool) (User, error) {
	cols := userCols
	if withGroups {
		cols = userColsWithGroups(q.postgres())
	}
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+cols+` FROM users u WHERE u.id = ?`, id), withGroups)
	if err == ErrNotFound {
		return u, fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	return u, err
}

// UserByID reads one user.
func (d *DB) UserByID(ctx context.Context, id string) (User, error) {
	return userByID(ctx, d.rc, id, true)
}

// UserByID reads one user inside the transaction (to change it), without its groups:
// the single writer should not spend time on what the change does not need. FillGroups
// reads them afterwards, outside the transaction.
func (tx *Tx) UserByID(ctx context.Context, id string) (User, error) {
	return userByID(ctx, tx.q, id, false)
}

// UserByEmail finds the user whose userName or primary email is email (case-insensitive).
func (d *DB) UserByEmail(ctx context.Context, email string) (User, error) {
	n := Fold(strings.TrimSpace(email))
	cols := userColsWithGroups(d.pg)
	u, err := scanUser(d.rc.QueryRowContext(ctx, `SELECT `+cols+` FROM users u WHERE u.user_name_norm = ?
		UNION ALL SELECT `+cols+` FROM users u WHERE u.email_norm = ? AND u.user_name_norm <> ? LIMIT 1`, n, n, n), true)
	if err == ErrNotFound {
		return u, fmt.Errorf("user %q: %w", email, ErrNotFound)
	}
	return u, err
}

// InsertUser stores a new user; a userName that differs from an existing one only in case
// is a conflict. It sets Seq, Created, Modified and Version.
func (tx *Tx) InsertUser(ctx context.Context, u *User) error {
	u.Created, u.Modified, u.Version = tx.now, tx.now, 1
	err := tx.q.QueryRowContext(ctx, `INSERT INTO users (id, user_name, user_name_norm, external_id, display_name,
		given_name, family_name, email, email_norm, active, doc, created_at, modified_at, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING seq`,
		u.ID, u.UserName, Fold(u.UserName), nullStr(u.ExternalID), u.DisplayName, u.GivenName, u.FamilyName,
		u.Email, Fold(u.Email), u.Active, string(u.Doc), ms(u.Created), ms(u.Modified)).Scan(&u.Seq)
	return mapErr(err)
}

// UpdateUser writes back a user read in this transaction (in this run of the write: a
// write may run twice, see Write), bumping its version. Only the columns that changed
// since that read are written.
func (tx *Tx) UpdateUser(ctx context.Context, u *User) error {
	u.Modified = tx.now
	u.Version++
	sets := []string{"doc = ?", "modified_at = ?", "version = ?"}
	args := []any{string(u.Doc), ms(u.Modified), u.Version}
	now, was := u.columns(), userColumns{}
	all := u.loaded == nil
	if !all {
		was = *u.loaded
	}
	set := func(changed bool, col string, v ...any) {
		if all || changed {
			sets = append(sets, col)
			args = append(args, v...)
		}
	}
	set(now.userName != was.userName, "user_name = ?, user_name_norm = ?", u.UserName, Fold(u.UserName))
	set(now.externalID != was.externalID, "external_id = ?", nullStr(u.ExternalID))
	set(now.displayName != was.displayName, "display_name = ?", u.DisplayName)
	set(now.givenName != was.givenName, "given_name = ?", u.GivenName)
	set(now.familyName != was.familyName, "family_name = ?", u.FamilyName)
	set(now.email != was.email, "email = ?, email_norm = ?", u.Email, Fold(u.Email))
	set(now.active != was.active, "active = ?", u.Active)
	res, err := tx.q.ExecContext(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE seq = ?`, append(args, u.Seq)...)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %q: %w", u.ID, ErrNotFound)
	}
	u.loaded = &now
	return nil
}

// DeleteUser removes a user with its keys, codes and group memberships.
func (tx *Tx) DeleteUser(ctx context.Context, id string) error {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	return nil
}

// listUsersSQL is the one place the list queries are written, so that ExplainListUsers
// checks exactly what ListUsers and EachUser run. A lookup (p.Few) reads its users with
// their groups at once; any other page reads the seqs of its users first, and the users
// then, a chunk at a time (EachUser).
func listUsersSQL(w Where, p Page, pg bool) (countSQL, pageSQL string, pageArgs []any) {
	suffix, args := p.suffix("u.seq")
	if pg && p.Few {
		// PostgreSQL plans a statement with parameters afresh on each run until a generic
		// plan looks no costlier, and LIMIT and OFFSET as parameters keep it looking
		// costlier: the lookup Okta sends before every create was planned on every call (most
		// of its time). As constants (integers from the server, never from the filter) its
		// plan is reused.
		suffix = strings.Replace(suffix, "LIMIT ? OFFSET ?", fmt.Sprintf("LIMIT %d OFFSET %d", p.Limit, max(p.Offset, 0)), 1)
		args = nil
	}
	countSQL = "SELECT count(*) FROM users u" + w.clause()
	pageArgs = append(append([]any{}, w.Args...), args...)
	if p.Few {
		return countSQL, `SELECT ` + userColsWithGroups(pg) + ` FROM users u` + w.clause() + suffix, pageArgs
	}
	return countSQL, `SELECT u.seq FROM users u` + w.clause() + suffix, pageArgs
}

// ListUsers returns one page of the users matching w, and how many match in all.
func (d *DB) ListUsers(ctx context.Context, w Where, p Page) ([]User, int, error) {
	var out []User
	var total int
	err := d.EachUser(ctx, w, p, func(n int) error {
		total = n
		return nil
	}, func(u *User) error {
		out = append(out, *u)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// ExplainListUsers returns SQLite's query plans for the two queries ListUsers runs, so
// that tests can prove lookups and pages use indexes instead of scanning the table.
func (d *DB) ExplainListUsers(ctx context.Context, w Where, p Page) (countPlan, pagePlan []string, err error) {
	countSQL, pageSQL, args := listUsersSQL(w, p, d.pg)
	if countPlan, err = d.explain(ctx, countSQL, w.Args); err != nil {
		return nil, nil, err
	}
	pagePlan, err = d.explain(ctx, pageSQL, args)
	return countPlan, pagePlan, err
}

func (d *DB) explain(ctx context.Context, query string, args []any) ([]string, error) {
	rows, err := d.rc.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return nil, mapErr(err)
		}
		plan = append(plan, detail)
	}
	return plan, mapErr(rows.Err())
}

// UserQuery is the console's and CLI's view of the user list: by status and a search text.
type UserQuery struct {
	Status string // "", pending, ready or deactivated
	Search string // matched, case-insensitively, inside userName, email and the name shown (ShownName)
}

// Where turns the query into a condition for ListUsers.
func (q UserQuery) Where() (Where, error) {
	var conds []string
	var args []any
	switch q.Status {
	case "":
	case StatusDeactivated:
		conds = append(conds, "u.active = 0")
	case StatusPending:
		conds = append(conds, "u.active = 1 AND NOT EXISTS (SELECT 1 FROM user_keys k WHERE k.user_seq = u.seq)")
	case StatusReady:
		conds = append(conds, "u.active = 1 AND EXISTS (SELECT 1 FROM user_keys k WHERE k.user_seq = u.seq)")
	default:
		return Where{}, fmt.Errorf("unknown status %q (want pending, ready or deactivated)", q.Status)
	}
	if s := Fold(strings.TrimSpace(q.Search)); s != "" {
		// The name is matched as lists show it (ShownName): the display name, else the given
		// and family names, so that what the admin reads on screen is what finds the user.
		conds = append(conds, "(instr(u.user_name_norm, ?) > 0 OR instr(u.email_norm, ?) > 0 OR "+
			"instr(golower(CASE WHEN u.display_name != '' THEN u.display_name ELSE trim(u.given_name || ' ' || u.family_name) END), ?) > 0)")
		args = append(args, s, s, s)
	}
	return Where{SQL: strings.Join(conds, " AND "), Args: args}, nil
}

// StatusCounts is how many users are in each state.
type StatusCounts struct {
	Pending, Ready, Deactivated int
}

// Total is the number of users.
func (c StatusCounts) Total() int { return c.Pending + c.Ready + c.Deactivated }

// CountUsersByStatus counts users per state in one pass.
func (d *DB) CountUsersByStatus(ctx context.Context) (StatusCounts, error) {
	var c StatusCounts
	var total, inactive, keyed sql.NullInt64
	err := d.rc.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM users WHERE active = 0),
		(SELECT count(*) FROM user_keys k JOIN users u ON u.seq = k.user_seq WHERE u.active = 1)`).Scan(&total, &inactive, &keyed)
	if err != nil {
		return c, mapErr(err)
	}
	c.Deactivated = int(inactive.Int64)
	c.Ready = int(keyed.Int64)
	c.Pending = int(total.Int64) - c.Deactivated - c.Ready
	return c, nil
}

// GroupRef is a group as seen from one of its members.
type GroupRef struct {
	ID          string
	DisplayName string
}

// FillGroups reads the groups of the given users in one query.
func (d *DB) FillGroups(ctx context.Context, users []User) error { return d.fillGroups(ctx, users) }

// fillGroups reads the groups of a page of users in one query.
func (d *DB) fillGroups(ctx context.Context, users []User) error {
	if len(users) == 0 {
		return nil
	}
	seqs := make([]int64, len(users))
	for i, u := range users {
		seqs[i] = u.Seq
	}
	groups, err := groupsOfUsers(ctx, d.rc, seqs)
	if err != nil {
		return err
	}
	for i := range users {
		users[i].Groups = groups[users[i].Seq]
	}
	return nil
}

func groupsOfUsers(ctx context.Context, q querier, userSeqs []int64) (map[int64][]GroupRef, error) {
	out := make(map[int64][]GroupRef, len(userSeqs))
	if len(userSeqs) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT m.user_seq, g.id, g.display_name FROM group_members m
		JOIN groups g ON g.seq = m.group_seq WHERE m.user_seq IN (`+seqsIn(q)+`)
		ORDER BY m.user_seq, g.seq`, int64sJSON(userSeqs))
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var g GroupRef
		if err := rows.Scan(&seq, &g.ID, &g.DisplayName); err != nil {
			return nil, mapErr(err)
		}
		out[seq] = append(out[seq], g)
	}
	return out, mapErr(rows.Err())
}

func int64sJSON(v []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, n := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, n)
	}
	b.WriteByte(']')
	return b.String()
}
