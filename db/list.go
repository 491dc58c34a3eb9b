package db

import (
	"context"
	"errors"
	"time"
)

// listChunk is how many users or groups a streamed page reads at a time: a page of 1,000
// large users never sits in memory whole.
const listChunk = 50

// memberChunk bounds how many members a streamed page of groups reads at a time (a group
// larger than this is read alone).
const memberChunk = 5000

// listSlot gives a list query its read budget and, when it has a filter, waits for one
// of the list query slots. done must be called when the heavy part of the list (filter,
// sort, count) is over. An unfiltered page walks an index in order (or the rank index for
// deep pages) and is cheap, so it takes no slot: Okta's "Test Connector Configuration",
// GET /Users?count=1, keeps answering while costly filters fill the slots.
func (d *DB) listSlot(ctx context.Context, w Where) (context.Context, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.readBudget)
	if w.SQL == "" {
		return ctx, cancel, nil
	}
	select {
	case d.lists <- struct{}{}:
	case <-ctx.Done():
		cancel()
		return nil, nil, d.readErr(ctx, ctx.Err())
	}
	return ctx, func() { <-d.lists; cancel() }, nil
}

// readErr maps an error of a budgeted read: past its deadline, the driver reports an
// interrupted query, which is the budget's doing, not a database fault.
func (d *DB) readErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrReadBudget
	}
	// A deadline can end a network wait (PostgreSQL's) an instant before the context
	// itself says it is done.
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return ErrReadBudget
	}
	return mapErr(err)
}

// EachUser streams one page of the users matching w: start gets the number of matches,
// then each gets the page's users in order, with their groups. The filter, sort and count
// run once, within the read budget, on one of a bounded number of list slots; the users are
// then read a chunk at a time by seq, so memory stays bounded whatever the page size and
// however slowly the caller writes them out.
func (d *DB) EachUser(ctx context.Context, w Where, p Page, start func(total int) error, each func(*User) error) error {
	if p.Few {
		users, total, err := d.lookupUsers(ctx, w, p)
		if err != nil {
			return err
		}
		if err := start(total); err != nil {
			return err
		}
		for i := range users {
			if err := each(&users[i]); err != nil {
				return err
			}
		}
		return nil
	}
	seqs, total, err := d.pageUserSeqs(ctx, w, p)
	if err != nil {
		return err
	}
	if err := start(total); err != nil {
		return err
	}
	for len(seqs) > 0 {
		chunk := seqs[:min(listChunk, len(seqs))]
		seqs = seqs[len(chunk):]
		users, err := d.usersBySeq(ctx, chunk)
		if err != nil {
			return err
		}
		for i := range users {
			if err := each(&users[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookupUsers reads the few users of a lookup by a unique attribute, with their groups.
// A lookup is an index probe, the request identity providers send before every create:
// it takes no list slot, only the read budget.
func (d *DB) lookupUsers(ctx context.Context, w Where, p Page) ([]User, int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.readBudget)
	defer cancel()
	countSQL, pageSQL, args := listUsersSQL(w, p, d.pg)
	var out []User
	if p.Limit > 0 {
		rows, err := d.rc.QueryContext(ctx, pageSQL, args...)
		if err != nil {
			return nil, 0, d.readErr(ctx, err)
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows, true)
			if err != nil {
				return nil, 0, d.readErr(ctx, err)
			}
			out = append(out, u)
		}
		if err := rows.Err(); err != nil {
			return nil, 0, d.readErr(ctx, err)
		}
		// A first page that is not full holds every match: no need to count them. This
		// saves a query on every lookup by userName or externalId.
		if p.Offset <= 0 && len(out) < p.Limit {
			return out, len(out), nil
		}
	}
	var total int
	if err := d.rc.QueryRowContext(ctx, countSQL, w.Args...).Scan(&total); err != nil {
		return nil, 0, d.readErr(ctx, err)
	}
	return out, total, nil
}

// pageUserSeqs runs the page's filter and order and returns the seqs of its users, and
// how many users match in all.
func (d *DB) pageUserSeqs(ctx context.Context, w Where, p Page) ([]int64, int, error) {
	ctx, done, err := d.listSlot(ctx, w)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	if w.SQL == "" && p.OrderBy == "" && p.Offset >= rankThreshold && p.Limit > 0 {
		if seqs, total, ok := d.seqsAt(ctx, p.Offset, p.Limit, p.Desc); ok {
			return seqs, total, nil
		}
	}
	countSQL, seqSQL, args := listUsersSQL(w, p, d.pg)
	seqs, err := d.seqs(ctx, seqSQL, args, p.Limit)
	if err != nil {
		return nil, 0, err
	}
	if p.Limit > 0 && p.Offset <= 0 && len(seqs) < p.Limit {
		return seqs, len(seqs), nil // a first page that is not full holds every match
	}
	var total int
	if err := d.rc.QueryRowContext(ctx, countSQL, w.Args...).Scan(&total); err != nil {
		return nil, 0, d.readErr(ctx, err)
	}
	return seqs, total, nil
}

// seqs runs a query of seqs, within the read budget of ctx.
func (d *DB) seqs(ctx context.Context, query string, args []any, limit int) ([]int64, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := d.rc.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, d.readErr(ctx, err)
	}
	defer rows.Close()
	out := make([]int64, 0, min(limit, 1000))
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, d.readErr(ctx, err)
		}
		out = append(out, s)
	}
	return out, d.readErr(ctx, rows.Err())
}

// usersBySeq reads the users with the given seqs, with their groups, in the order of seqs
// (a user deleted since the seqs were read is left out).
func (d *DB) usersBySeq(ctx context.Context, seqs []int64) ([]User, error) {
	rows, err := d.rc.QueryContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.seq IN (`+seqsIn(d.rc)+`)`, int64sJSON(seqs))
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	bySeq := make(map[int64]User, len(seqs))
	for rows.Next() {
		u, err := scanUser(rows, false)
		if err != nil {
			return nil, err
		}
		bySeq[u.Seq] = u
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	rows.Close()
	out := make([]User, 0, len(bySeq))
	for _, s := range seqs {
		if u, ok := bySeq[s]; ok {
			out = append(out, u)
		}
	}
	return out, d.fillGroups(ctx, out)
}

// EachGroup streams one page of the groups matching w as EachUser streams users: start
// gets the number of matches, then each gets every group of the page in order with its
// member count and, when withMembers, its members. Members are read for several groups
// in one query, never one query per group, and never more than about memberChunk at a
// time unless one group alone has more.
func (d *DB) EachGroup(ctx context.Context, w Where, p Page, withMembers bool, start func(total int) error, each func(*Group, []Member) error) error {
	seqs, total, err := d.pageGroupSeqs(ctx, w, p)
	if err != nil {
		return err
	}
	if err := start(total); err != nil {
		return err
	}
	for len(seqs) > 0 {
		chunk := seqs[:min(listChunk, len(seqs))]
		seqs = seqs[len(chunk):]
		groups, err := d.groupsBySeq(ctx, chunk)
		if err != nil {
			return err
		}
		for len(groups) > 0 {
			n, sum := 0, 0
			for n < len(groups) && (n == 0 || sum+groups[n].MemberCount <= memberChunk) {
				sum += groups[n].MemberCount
				n++
			}
			part := groups[:n]
			groups = groups[n:]
			var members map[int64][]Member
			if withMembers && sum > 0 {
				gs := make([]int64, len(part))
				for i, g := range part {
					gs[i] = g.Seq
				}
				if members, err = membersOfGroups(ctx, d.rc, gs); err != nil {
					return err
				}
			}
			for i := range part {
				if err := each(&part[i], members[part[i].Seq]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pageGroupSeqs runs the page's filter and order over groups and returns the seqs of its
// groups, and how many match in all.
func (d *DB) pageGroupSeqs(ctx context.Context, w Where, p Page) ([]int64, int, error) {
	ctx, done, err := d.listSlot(ctx, w)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	total, err := count(ctx, d.rc, "groups g", w)
	if err != nil {
		return nil, 0, d.readErr(ctx, err)
	}
	if p.Limit <= 0 || p.Offset >= total {
		return nil, total, nil
	}
	suffix, args := p.suffix("g.seq")
	seqs, err := d.seqs(ctx, `SELECT g.seq FROM groups g`+w.clause()+suffix, append(append([]any{}, w.Args...), args...), p.Limit)
	return seqs, total, err
}

// groupsBySeq reads the groups with the given seqs and their member counts, in the order
// of seqs.
func (d *DB) groupsBySeq(ctx context.Context, seqs []int64) ([]Group, error) {
	rows, err := d.rc.QueryContext(ctx, `SELECT `+groupCols+`, (SELECT count(*) FROM group_members m WHERE m.group_seq = g.seq)
		FROM groups g WHERE g.seq IN (`+seqsIn(d.rc)+`)`, int64sJSON(seqs))
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	bySeq := make(map[int64]Group, len(seqs))
	for rows.Next() {
		var members int
		g, err := scanGroup(rows, &members)
		if err != nil {
			return nil, err
		}
		g.MemberCount = members
		bySeq[g.Seq] = g
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	out := make([]Group, 0, len(bySeq))
	for _, s := range seqs {
		if g, ok := bySeq[s]; ok {
			out = append(out, g)
		}
	}
	return out, nil
}
