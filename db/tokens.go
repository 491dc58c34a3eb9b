package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// TokenPrefix starts every SCIM token secret, so that a leaked one is recognisable (and
// secret scanners can find it).
const TokenPrefix = "scim_"

// ExpiringSoon is how close to its expiry a token is marked as expiring.
const ExpiringSoon = 14 * 24 * time.Hour

// Token is a SCIM bearer token as stored: never the secret itself, only its hash and a
// short hint the admin can recognise it by.
type Token struct {
	ID            string
	Description   string
	Hint          string
	Created       time.Time
	Expires       time.Time // zero: never
	LastUsed      time.Time // zero: never used
	LastUsedAddr  string
	LastUsedAgent string
	Revoked       time.Time // zero: not revoked
	ReplacedBy    string    // the token that replaced this one by rotation; "" if none
	Rotated       time.Time // when it was rotated; zero: never
}

// Token states as shown to the admin.
const (
	TokenActive   = "active"
	TokenExpiring = "expiring"
	TokenExpired  = "expired"
	TokenRevoked  = "revoked"
	// TokenRotated is a token replaced by rotation that still works until the end of its
	// overlap (its expiry); then it is TokenExpired.
	TokenRotated = "rotated"
)

// TokenStates lists every state Status returns, so that an exporter can publish a count
// for each, zeros included.
var TokenStates = []string{TokenActive, TokenExpiring, TokenRotated, TokenExpired, TokenRevoked}

// Status is the token's state at now.
func (t Token) Status(now time.Time) string {
	switch {
	case !t.Revoked.IsZero():
		return TokenRevoked
	case !t.Expires.IsZero() && !now.Before(t.Expires):
		return TokenExpired
	case t.ReplacedBy != "":
		return TokenRotated
	case !t.Expires.IsZero() && t.Expires.Sub(now) < ExpiringSoon:
		return TokenExpiring
	}
	return TokenActive
}

// HashSecret is how token secrets and one-time codes are stored. The secrets carry 256
// bits of randomness, so a fast hash is enough; there is nothing to brute-force.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func randomID(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// CreateToken mints a token, stores its hash and returns the secret, which exists nowhere
// else: the caller shows it once. ttl 0 means it never expires.
func (d *DB) CreateToken(ctx context.Context, description string, ttl time.Duration, actor string) (Token, string, error) {
	secret, err := newTokenSecret()
	if err != nil {
		return Token{}, "", err
	}
	var t Token
	err = d.writeAdmin(ctx, func(tx *Tx) error {
		var err error
		if t, err = tx.insertToken(ctx, description, secret, ttl); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, Event{Kind: "token.create", TokenID: t.ID, Agent: actor, Outcome: OutcomeOK,
			Subject: t.Description, Summary: fmt.Sprintf("token %s created (%s)", t.ID, expiryText(t))})
	})
	if err != nil {
		return Token{}, "", err
	}
	return t, secret, nil
}

// secretAlphabet is what new token secrets are made of: letters and digits only, so that a
// double-click or a terminal's word selection takes the whole secret (base64url's - and _
// end a word in many terminals and in tmux). Secrets minted before, in base64url, still
// authenticate: a secret is looked up by its hash, whatever its characters.
const secretAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// SecretLen is the number of random characters after TokenPrefix: 43 base-62 symbols
// carry 43·log2(62) ≈ 256.03 bits, as many as the 32 random bytes of the old format.
const SecretLen = 43

// newTokenSecret draws a token secret: 256 random bits, in letters and digits, behind the
// recognisable prefix. Each symbol is drawn uniformly by rejection (bytes of 248 and over
// are drawn again, 248 being the largest multiple of 62 within a byte), so no symbol is
// likelier than another.
func newTokenSecret() (string, error) {
	out := make([]byte, 0, len(TokenPrefix)+SecretLen)
	out = append(out, TokenPrefix...)
	buf := make([]byte, 64)
	for len(out) < cap(out) {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b >= 248 || len(out) == cap(out) {
				continue
			}
			out = append(out, secretAlphabet[b%62])
		}
	}
	return string(out), nil
}

// insertToken stores a new token for secret, living ttl from now (0: forever).
func (tx *Tx) insertToken(ctx context.Context, description, secret string, ttl time.Duration) (Token, error) {
	t := Token{
		ID:          randomID("tok_", 6),
		Description: description,
		Hint:        secret[:len(TokenPrefix)+4] + "…" + secret[len(secret)-4:],
		Created:     tx.now,
	}
	if ttl > 0 {
		t.Expires = tx.now.Add(ttl)
	}
	_, err := tx.q.ExecContext(ctx, `INSERT INTO scim_tokens (id, description, secret_hash, hint, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, t.ID, t.Description, HashSecret(secret), t.Hint, ms(t.Created), toNullMS(t.Expires))
	return t, mapErr(err)
}

func expiryText(t Token) string {
	if t.Expires.IsZero() {
		return "never expires"
	}
	return "expires " + t.Expires.Format("2006-01-02")
}

const tokenCols = `id, description, hint, created_at, expires_at, last_used_at, coalesce(last_used_addr, ''), coalesce(last_used_agent, ''), revoked_at,
	coalesce(replaced_by, ''), rotated_at`

func scanToken(s interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var created int64
	var exp, used, rev, rot sql.NullInt64
	err := s.Scan(&t.ID, &t.Description, &t.Hint, &created, &exp, &used, &t.LastUsedAddr, &t.LastUsedAgent, &rev, &t.ReplacedBy, &rot)
	t.Created, t.Expires, t.LastUsed, t.Revoked, t.Rotated = fromMS(created), nullMS(exp), nullMS(used), nullMS(rev), nullMS(rot)
	return t, err
}

// Tokens lists every token, newest first.
func (d *DB) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := d.rc.QueryContext(ctx, `SELECT `+tokenCols+` FROM scim_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, t)
	}
	return out, mapErr(rows.Err())
}

// RevokeToken revokes a token at once: the very next request that presents it is refused.
func (d *DB) RevokeToken(ctx context.Context, id, actor string) error {
	return d.writeAdmin(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE scim_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, ms(tx.now), id)
		if err != nil {
			return mapErr(err)
		}
		tx.authChanged = true
		if n, _ := res.RowsAffected(); n == 0 {
			var exists int
			if err := tx.q.QueryRowContext(ctx, `SELECT count(*) FROM scim_tokens WHERE id = ?`, id).Scan(&exists); err != nil {
				return mapErr(err)
			}
			if exists == 0 {
				return fmt.Errorf("token %q: %w", id, ErrNotFound)
			}
			return nil // already revoked: nothing to do, nothing to record
		}
		return tx.InsertEvent(ctx, Event{Kind: "token.revoke", TokenID: id, Agent: actor, Outcome: OutcomeOK,
			Summary: "token " + id + " revoked"})
	})
}

// Auth is what one request's authentication needs to know, read in a single query.
type Auth struct {
	TokenID     string
	Found       bool
	Revoked     bool
	Expired     bool
	Rotated     bool // replaced by another token (expired too once its overlap has ended)
	SCIMEnabled bool
	NeverUsed   bool // no use of the token has been recorded yet: this is its first request
}

// TokenUse is the last use of a token, kept in memory by the server and flushed now and
// then, so that authentication costs no write.
type TokenUse struct {
	TokenID string
	At      time.Time
	Addr    string
	Agent   string
}

// RecordTokenUses writes the last uses collected since the previous flush.
func (d *DB) RecordTokenUses(ctx context.Context, uses []TokenUse) error {
	if len(uses) == 0 {
		return nil
	}
	return d.Write(ctx, func(tx *Tx) error {
		for _, u := range uses {
			if _, err := tx.q.ExecContext(ctx, `UPDATE scim_tokens SET last_used_at = ?, last_used_addr = ?, last_used_agent = ?
				WHERE id = ? AND coalesce(last_used_at, 0) <= ?`, ms(u.At), u.Addr, u.Agent, u.TokenID, ms(u.At)); err != nil {
				return mapErr(err)
			}
		}
		return nil
	})
}
