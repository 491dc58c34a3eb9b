package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"time"
)

// Authentication cache. Every SCIM request is authenticated; reading the token and the
// SCIM switch from the database for each one is most of the cost of a lookup. So each
// process keeps what it read, per token, and uses it again while nothing that decides
// authentication has changed anywhere: a token created, revoked or rotated, SCIM switched.
//
// Such a change bumps a generation, and a cached row is used only under the generation
// it was read under. The rule that must hold: once the command that revokes a token or
// switches SCIM off has returned, the very next request to any process serving the
// database is refused. So:
//   - in the process that wrote it, the writer bumps the generation after the commit and
//     before the write returns;
//   - on SQLite, other processes see the bump in the auth file beside the database (8
//     bytes, rewritten after the commit and before the write returns; a process reads it
//     at each authentication, a pread);
//   - on PostgreSQL, the write transaction notifies every listening instance; each drops
//     its cache and acknowledges, and the write returns only once every instance listening
//     has (or a short timeout passed: see awaitAuthAcks).
//
// A cached row is read again at least every authCacheTTL whatever happens, and unknown
// secrets are never cached: a flood of wrong tokens costs a database read each, as before.

// authCacheTTL bounds how long a cached row is used even without a change.
const authCacheTTL = 5 * time.Second

// authCacheMax bounds the cache: an organisation has a handful of tokens.
const authCacheMax = 256

// authAuthSuffix names the auth generation file beside a SQLite database.
const authGenSuffix = "-auth"

// authGen is the generation a cached row was read under: this process's own count of
// auth changes, and (SQLite) the value of the file other processes bump.
type authGen struct {
	local uint64
	file  uint64
}

type authRow struct {
	gen        authGen
	read       time.Time
	id         string
	exp, rev   sql.NullInt64
	used       sql.NullInt64
	replacedBy sql.NullString
	enabled    sql.NullString
}

type authCache struct {
	mu   sync.Mutex
	rows map[[32]byte]authRow
}

func (c *authCache) get(key [32]byte, gen authGen, now time.Time) (authRow, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rows[key]
	if !ok || r.gen != gen || now.Sub(r.read) > authCacheTTL || now.Before(r.read) {
		return authRow{}, false
	}
	return r, true
}

func (c *authCache) put(key [32]byte, r authRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows == nil || len(c.rows) >= authCacheMax {
		c.rows = map[[32]byte]authRow{}
	}
	c.rows[key] = r
}

// currentAuthGen reads the generation now; ok is false when it cannot be known (the auth
// file unreadable, PostgreSQL's listener down), and then nothing is served from the cache.
func (d *DB) currentAuthGen() (authGen, bool) {
	g := authGen{local: d.authLocal.Load()}
	if d.pg {
		return g, d.listen != nil && d.listen.healthy.Load()
	}
	if d.authFile == nil {
		return g, false
	}
	var b [8]byte
	if _, err := d.authFile.ReadAt(b[:], 0); err != nil {
		return g, false
	}
	g.file = binary.LittleEndian.Uint64(b[:])
	return g, true
}

// authChanged is called after a commit that changed authentication: this process drops
// its cache at once; other SQLite processes see the file change. (On PostgreSQL the
// transaction itself notified the other instances.)
func (d *DB) authChanged() {
	d.authLocal.Add(1)
	if d.authFile != nil {
		// A fresh random value rather than an increment: two processes bumping at once
		// cannot then write the same value and hide one change from a third process.
		var b [8]byte
		rand.Read(b[:])
		d.authFile.WriteAt(b[:], 0)
	}
}

// openAuthFile opens (creating, 0600) the auth generation file of the SQLite database at
// path.
func openAuthFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path+authGenSuffix, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open auth generation file: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Size() < 8 {
		var b [8]byte
		rand.Read(b[:])
		f.WriteAt(b[:], 0)
	}
	return f, nil
}

// Authenticate looks a presented secret up by its hash (an index probe, so no timing
// comparison of secrets happens in Go) and reads the SCIM switch in the same query, or
// takes both from the cache while they cannot have changed.
func (d *DB) Authenticate(ctx context.Context, secret string, now time.Time) (Auth, error) {
	var key [32]byte
	copy(key[:], HashSecret(secret))
	gen, cacheable := d.currentAuthGen()
	if cacheable && !d.opts.noAuthCache {
		if r, ok := d.authc.get(key, gen, time.Now()); ok {
			return r.auth(now), nil
		}
	}
	// The generation is read before the row: a change committed after this read bumps
	// the generation after it, so a row read before that commit is never used under the
	// generation that follows it.
	r := authRow{gen: gen, read: time.Now()}
	var id sql.NullString
	err := d.ac.QueryRowContext(ctx, `SELECT t.id, t.expires_at, t.revoked_at, t.replaced_by, t.last_used_at,
			(SELECT value FROM settings WHERE key = 'scim_enabled')
		FROM (SELECT 1) AS one LEFT JOIN scim_tokens t ON t.secret_hash = ?`, key[:]).Scan(&id, &r.exp, &r.rev, &r.replacedBy, &r.used, &r.enabled)
	if err != nil {
		return Auth{}, mapErr(err)
	}
	if !id.Valid {
		return Auth{SCIMEnabled: r.enabled.String == "1"}, nil
	}
	r.id = id.String
	if cacheable {
		d.authc.put(key, r)
	}
	return r.auth(now), nil
}

// auth is what the row says of a request at now (expiry is decided at each request, not
// when the row was read).
func (r authRow) auth(now time.Time) Auth {
	return Auth{
		TokenID:     r.id,
		Found:       true,
		SCIMEnabled: r.enabled.String == "1",
		Revoked:     r.rev.Valid,
		Expired:     r.exp.Valid && now.UnixMilli() >= r.exp.Int64,
		Rotated:     r.replacedBy.Valid && r.replacedBy.String != "",
		NeverUsed:   !r.used.Valid,
	}
}
