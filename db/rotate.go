package db

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxRotateOverlap bounds how long a rotated token may keep working beside its
// replacement. Pasting a new token into an identity provider takes minutes; an overlap of
// months would leave the old secret alive for no reason, so it is refused as a typo.
const MaxRotateOverlap = 30 * 24 * time.Hour

// ErrCannotRotate means the token is not one that can be rotated: it was revoked, has
// expired, or was rotated already (rotate its replacement instead).
var ErrCannotRotate = errors.New("cannot be rotated")

// ErrBadOverlap means a rotation's overlap is negative or longer than MaxRotateOverlap.
var ErrBadOverlap = errors.New("overlap out of range")

// Rotation is the outcome of RotateToken: the old token as it is now (its expiry cut to
// the end of the overlap, ReplacedBy set) and its replacement.
type Rotation struct {
	Old, New Token
	// Capped reports that the old token's own expiry came before the end of the overlap
	// asked for: it stops then.
	Capped bool
}

// RotateToken replaces a token with a new one with the same description and the same
// lifetime length (or none, if the old one never expired), and lets the old one work
// for overlap more, but never past its own expiry: its expiry becomes
// min(expiry, now+overlap). An overlap of 0 stops the old token at once. The secret of the
// new token is returned, to be shown once. Both tokens get an audit event, in the same
// transaction as the change.
func (d *DB) RotateToken(ctx context.Context, id string, overlap time.Duration, actor string) (Rotation, string, error) {
	if overlap < 0 || overlap > MaxRotateOverlap {
		return Rotation{}, "", fmt.Errorf("%w: %s; give 0 (the old token stops at once) up to %d days", ErrBadOverlap, overlap, MaxRotateOverlap/(24*time.Hour))
	}
	secret, err := newTokenSecret()
	if err != nil {
		return Rotation{}, "", err
	}
	var r Rotation
	err = d.writeAdmin(ctx, func(tx *Tx) error {
		old, err := scanToken(tx.q.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM scim_tokens WHERE id = ?`, id))
		if err != nil {
			if err = mapErr(err); errors.Is(err, ErrNotFound) {
				return fmt.Errorf("token %q: %w", id, ErrNotFound)
			}
			return err
		}
		if err := rotatable(old, tx.now); err != nil {
			return err
		}
		var ttl time.Duration
		if !old.Expires.IsZero() {
			ttl = old.Expires.Sub(old.Created)
		}
		nt, err := tx.insertToken(ctx, old.Description, secret, ttl)
		if err != nil {
			return err
		}
		stop := tx.now.Add(overlap)
		capped := !old.Expires.IsZero() && old.Expires.Before(stop)
		if capped {
			stop = old.Expires
		}
		res, err := tx.q.ExecContext(ctx, `UPDATE scim_tokens SET expires_at = ?, replaced_by = ?, rotated_at = ?
			WHERE id = ? AND revoked_at IS NULL AND replaced_by IS NULL`, ms(stop), nt.ID, ms(tx.now), id)
		if err != nil {
			return mapErr(err)
		}
		tx.authChanged = true
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("token %s: %w: it changed while being rotated", id, ErrCannotRotate)
		}
		old.Expires, old.ReplacedBy, old.Rotated = stop, nt.ID, tx.now
		until := "stops at once"
		if stop.After(tx.now) {
			until = "works until " + stop.Format("2006-01-02 15:04:05 UTC")
		}
		if err := tx.InsertEvent(ctx, Event{Kind: "token.rotate", TokenID: old.ID, Agent: actor, Outcome: OutcomeOK,
			Subject: old.Description, Summary: fmt.Sprintf("token %s rotated: replaced by %s; %s", old.ID, nt.ID, until)}); err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, Event{Kind: "token.create", TokenID: nt.ID, Agent: actor, Outcome: OutcomeOK,
			Subject: nt.Description, Summary: fmt.Sprintf("token %s created by rotating %s (%s)", nt.ID, old.ID, expiryText(nt))}); err != nil {
			return err
		}
		r = Rotation{Old: old, New: nt, Capped: capped}
		return nil
	})
	if err != nil {
		return Rotation{}, "", err
	}
	return r, secret, nil
}

// rotatable says why t cannot be rotated at now, if it cannot.
func rotatable(t Token, now time.Time) error {
	const when = "2006-01-02 15:04 UTC"
	switch {
	case !t.Revoked.IsZero():
		return fmt.Errorf("token %s %w: it was revoked on %s; create a new token instead", t.ID, ErrCannotRotate, t.Revoked.UTC().Format(when))
	case t.ReplacedBy != "":
		return fmt.Errorf("token %s %w: it was already rotated on %s and replaced by %s; rotate %s instead", t.ID, ErrCannotRotate,
			t.Rotated.UTC().Format(when), t.ReplacedBy, t.ReplacedBy)
	case !t.Expires.IsZero() && !now.Before(t.Expires):
		return fmt.Errorf("token %s %w: it expired on %s; create a new token instead", t.ID, ErrCannotRotate, t.Expires.UTC().Format(when))
	}
	return nil
}
