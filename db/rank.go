package db

import (
	"context"
	"sync"
	"time"
)

// rankIndex maps a position in creation order to a user's seq, so that a deep page of
// the unfiltered list (SCIM pages by offset) costs a slice lookup instead of walking
// tens of thousands of index entries. It is rebuilt when the user_membership counter
// says users were created or deleted, at most once a second; meanwhile the plain offset
// query answers.
type rankIndex struct {
	mu    sync.Mutex
	gen   int64
	seqs  []int64
	built time.Time
	valid bool
}

// rankThreshold is the offset below which the plain query is cheap enough.
const rankThreshold = 2000

// seqsAt returns the seqs of the users at positions [offset, offset+limit) in creation
// order, and false when the index cannot answer now.
func (d *DB) seqsAt(ctx context.Context, offset, limit int, desc bool) ([]int64, int, bool) {
	var gen int64
	if err := d.rc.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'user_membership'`).Scan(&gen); err != nil {
		return nil, 0, false
	}
	ri := &d.rank
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if !ri.valid || ri.gen != gen {
		if time.Since(ri.built) < time.Second {
			return nil, 0, false
		}
		ri.built = time.Now()
		// Read the counter and the seqs in one read transaction, so they agree.
		tx, err := d.r.BeginTx(ctx, d.snapshot())
		if err != nil {
			return nil, 0, false
		}
		defer tx.Rollback()
		if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'user_membership'`).Scan(&gen); err != nil {
			return nil, 0, false
		}
		query := `SELECT seq FROM users INDEXED BY users_seq ORDER BY seq`
		if d.pg {
			query = `SELECT seq FROM users ORDER BY seq` // its primary key is that narrow index
		}
		rows, err := tx.QueryContext(ctx, query)
		if err != nil {
			return nil, 0, false
		}
		seqs := ri.seqs[:0]
		for rows.Next() {
			var s int64
			if rows.Scan(&s) != nil {
				rows.Close()
				return nil, 0, false
			}
			seqs = append(seqs, s)
		}
		rows.Close()
		if rows.Err() != nil {
			return nil, 0, false
		}
		ri.seqs, ri.gen, ri.valid = seqs, gen, true
	}
	total := len(ri.seqs)
	if offset >= total {
		return nil, total, true
	}
	end := min(offset+limit, total)
	out := make([]int64, 0, end-offset)
	for i := offset; i < end; i++ {
		if desc {
			out = append(out, ri.seqs[total-1-i])
		} else {
			out = append(out, ri.seqs[i])
		}
	}
	return out, total, true
}
