package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"slices"
	"strings"
	"time"
)

// ErrTargetNotEmpty means a copy was refused because its target already holds data.
var ErrTargetNotEmpty = errors.New("the target database is not empty")

// copyColumn is one column a copy carries, with the kind its value is written as: both
// engines then get the same Go types whatever the other returned (SQLite may hand back
// text as []byte, PostgreSQL never).
type copyColumn struct {
	name string
	kind byte // 'i' integer, 't' text, 'b' bytes
}

// copyTable is one table a copy carries, in an order that keeps every reference valid.
type copyTable struct {
	name  string
	order string // the primary key: rows are copied and summed in this order
	cols  []copyColumn
	ids   string // the identity column PostgreSQL must continue after, if any
}

func cols(spec string) []copyColumn {
	var out []copyColumn
	for _, f := range strings.Fields(spec) {
		name, kind, _ := strings.Cut(f, ":")
		out = append(out, copyColumn{name: name, kind: kind[0]})
	}
	return out
}

// copyTables is everything a database holds that belongs to the organisation. Left out:
// the migrations (each side records its own, and they must agree), the counters (each
// side keeps its own), the heartbeats (they describe running processes, not data) and
// the setup codes' HMAC key (copied apart, see CopyStore).
var copyTables = []copyTable{
	{name: "settings", order: "key", cols: cols("key:t value:t")},
	{name: "scim_tokens", order: "id", cols: cols(`id:t description:t secret_hash:b hint:t created_at:i expires_at:i
		last_used_at:i last_used_addr:t last_used_agent:t revoked_at:i replaced_by:t rotated_at:i`)},
	{name: "users", order: "seq", ids: "seq", cols: cols(`seq:i id:t user_name:t user_name_norm:t external_id:t display_name:t
		given_name:t family_name:t email:t email_norm:t active:i doc:t created_at:i modified_at:i version:i`)},
	{name: "groups", order: "seq", ids: "seq", cols: cols(`seq:i id:t display_name:t display_name_norm:t external_id:t doc:t
		created_at:i modified_at:i version:i`)},
	{name: "group_members", order: "group_seq, user_seq", cols: cols("group_seq:i user_seq:i")},
	{name: "user_keys", order: "user_seq", cols: cols("user_seq:i key_alg:t public_key:b wrapped_key:t recovery_key:t created_at:i updated_at:i")},
	{name: "setup_codes", order: "user_seq", cols: cols("user_seq:i purpose:t code_hash:b created_at:i expires_at:i attempts_left:i used_at:i")},
	{name: "events", order: "id", ids: "id", cols: cols("id:i at:i kind:t token_id:t addr:t agent:t subject:t outcome:t status:i summary:t")},
	{name: "oidc_used_tokens", order: "token_hash", cols: cols("token_hash:b expires_at:i")},
	{name: "invitations", order: "id", ids: "id", cols: cols(`id:i user_seq:i address:t reason:t invited_by:t created_at:i attempts:i
		next_at:i last_error:t sent_at:i code_expires_at:i failed_at:i`)},
}

// copyChunk is how many rows one write of a copy inserts.
const copyChunk = 500

// CopyReport says what a copy carried and how it checked it.
type CopyReport struct {
	Rows     map[string]int // per table
	Checksum string         // SHA-256 over every copied row, the same on both sides
	Took     time.Duration
}

// CopyStore copies everything the database from holds into to, which must be empty (a
// freshly opened database, of either engine): users, groups and memberships, tokens (their
// hashes), setup and recovery codes, keys (public parts and wrapped blobs), sign-in
// records, invitations, settings and the audit log, with their ids. from is read in one
// snapshot, so a server may go on serving it; what it writes after the snapshot began is
// not copied. Both must be at the same schema version.
//
// The copy is then read back from to and checked against the snapshot, table by table:
// row counts and a SHA-256 of every row. A difference is an error.
//
// withCodeKey also makes to's setup-code key from's, so that codes already issued still
// work on the copy (a move between engines); a backup leaves it out, as a SQLite backup
// leaves out the key file.
func CopyStore(ctx context.Context, from, to *DB, withCodeKey bool) (CopyReport, error) {
	start := time.Now()
	rep := CopyReport{Rows: map[string]int{}}
	if err := sameSchema(ctx, from, to); err != nil {
		return rep, err
	}
	if err := mustBeEmpty(ctx, to); err != nil {
		return rep, err
	}
	src, err := from.r.BeginTx(ctx, from.snapshot())
	if err != nil {
		return rep, fmt.Errorf("read %s: %w", from.path, mapErr(err))
	}
	defer src.Rollback()
	sum := sha256.New()
	for _, t := range copyTables {
		n, err := copyOne(ctx, src, from.pg, to, t, sum)
		if err != nil {
			return rep, fmt.Errorf("copy %s: %w", t.name, err)
		}
		rep.Rows[t.name] = n
	}
	rep.Checksum = fmt.Sprintf("%x", sum.Sum(nil))
	if withCodeKey {
		if err := to.replaceCodeKey(ctx, from.codeKey.secret); err != nil {
			return rep, fmt.Errorf("copy the setup-code key: %w", err)
		}
	}
	if err := to.continueIDs(ctx); err != nil {
		return rep, err
	}
	check, err := storeChecksum(ctx, to)
	if err != nil {
		return rep, fmt.Errorf("read the copy back: %w", err)
	}
	for _, t := range copyTables {
		if check.Rows[t.name] != rep.Rows[t.name] {
			return rep, fmt.Errorf("the copy holds %d rows of %s, the source %d", check.Rows[t.name], t.name, rep.Rows[t.name])
		}
	}
	if check.Checksum != rep.Checksum {
		return rep, fmt.Errorf("the copy's checksum %s differs from the source's %s", check.Checksum, rep.Checksum)
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// Checksum counts the rows of every table a copy carries and sums them (SHA-256, in the
// order and form CopyStore uses), so that two databases of either engine can be compared.
func (d *DB) Checksum(ctx context.Context) (CopyReport, error) {
	return storeChecksum(ctx, d)
}

func storeChecksum(ctx context.Context, d *DB) (CopyReport, error) {
	rep := CopyReport{Rows: map[string]int{}}
	tx, err := d.r.BeginTx(ctx, d.snapshot())
	if err != nil {
		return rep, mapErr(err)
	}
	defer tx.Rollback()
	sum := sha256.New()
	for _, t := range copyTables {
		n, err := copyOne(ctx, tx, d.pg, nil, t, sum)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", t.name, err)
		}
		rep.Rows[t.name] = n
	}
	rep.Checksum = fmt.Sprintf("%x", sum.Sum(nil))
	return rep, nil
}

// copyOne reads table t from src in primary-key order, adds every row to sum and, unless
// to is nil, inserts the rows into to a chunk per write.
func copyOne(ctx context.Context, src *sql.Tx, srcPG bool, to *DB, t copyTable, sum hash.Hash) (int, error) {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+t.name+` ORDER BY `+t.order)
	if err != nil {
		return 0, mapErr(err)
	}
	defer rows.Close()
	insert := `INSERT INTO ` + t.name + ` (` + strings.Join(names, ", ") + `) VALUES (` +
		strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + `)`
	var chunk [][]any
	flush := func() error {
		if to == nil || len(chunk) == 0 {
			return nil
		}
		batch := chunk
		chunk = nil
		return to.Write(ctx, func(tx *Tx) error {
			for _, row := range batch {
				if _, err := tx.tx.ExecContext(ctx, insert, row...); err != nil {
					return mapErr(err)
				}
			}
			return nil
		})
	}
	n := 0
	for rows.Next() {
		raw := make([]any, len(t.cols))
		ptrs := make([]any, len(t.cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		row := make([]any, len(t.cols))
		for i, c := range t.cols {
			v, err := normalize(raw[i], c.kind)
			if err != nil {
				return n, fmt.Errorf("row %d, %s: %w", n+1, c.name, err)
			}
			row[i] = v
			sumValue(sum, v)
		}
		n++
		chunk = append(chunk, row)
		if len(chunk) == copyChunk {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, mapErr(err)
	}
	return n, flush()
}

// normalize gives a value read from either engine the one Go type its column's kind is
// written as: int64, string or []byte (nil stays nil).
func normalize(v any, kind byte) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case 'i':
		switch x := v.(type) {
		case int64:
			return x, nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case float64:
			if x == math.Trunc(x) {
				return int64(x), nil
			}
		}
	case 't':
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case 'b':
		switch x := v.(type) {
		case []byte:
			return append([]byte(nil), x...), nil
		case string:
			return []byte(x), nil
		}
	}
	return nil, fmt.Errorf("unexpected value of type %T", v)
}

// sumValue adds one value to the checksum, tagged with its type and length so that no two
// different rows can sum alike.
func sumValue(h hash.Hash, v any) {
	var buf [9]byte
	switch x := v.(type) {
	case nil:
		h.Write([]byte{0})
	case int64:
		buf[0] = 1
		binary.BigEndian.PutUint64(buf[1:], uint64(x))
		h.Write(buf[:])
	case string:
		buf[0] = 2
		binary.BigEndian.PutUint64(buf[1:], uint64(len(x)))
		h.Write(buf[:])
		h.Write([]byte(x))
	case []byte:
		buf[0] = 3
		binary.BigEndian.PutUint64(buf[1:], uint64(len(x)))
		h.Write(buf[:])
		h.Write(x)
	}
}

// sameSchema refuses a copy between databases at different schema versions.
func sameSchema(ctx context.Context, a, b *DB) error {
	am, err := appliedMigrations(ctx, a.w, a.pg)
	if err != nil {
		return mapErr(err)
	}
	bm, err := appliedMigrations(ctx, b.w, b.pg)
	if err != nil {
		return mapErr(err)
	}
	if !slices.Equal(slices.Sorted(slices.Values(am)), slices.Sorted(slices.Values(bm))) {
		return fmt.Errorf("the databases are at different schema versions (%d and %d migrations): open both with this scimdesk first", len(am), len(bm))
	}
	return nil
}

// mustBeEmpty refuses a target that holds any row a copy would carry.
func mustBeEmpty(ctx context.Context, d *DB) error {
	var held []string
	for _, t := range copyTables {
		var one int
		err := d.rc.QueryRowContext(ctx, `SELECT 1 FROM `+t.name+` LIMIT 1`).Scan(&one)
		if err == nil {
			held = append(held, t.name)
			continue
		}
		if !errors.Is(mapErr(err), ErrNotFound) {
			return mapErr(err)
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("%w: %s holds %s; copy only into a new, empty database", ErrTargetNotEmpty, d.path, strings.Join(held, ", "))
	}
	return nil
}

// continueIDs makes PostgreSQL's identity columns continue after the ids a copy wrote
// (SQLite continues after the largest by itself).
func (d *DB) continueIDs(ctx context.Context) error {
	if !d.pg {
		return nil
	}
	return d.Write(ctx, func(tx *Tx) error {
		for _, t := range copyTables {
			if t.ids == "" {
				continue
			}
			_, err := tx.tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t.name+`', '`+t.ids+`'),
				coalesce((SELECT max(`+t.ids+`) FROM `+t.name+`), 0) + 1, false)`)
			if err != nil {
				return mapErr(err)
			}
		}
		return nil
	})
}
