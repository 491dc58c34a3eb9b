package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// Invitations are setup codes delivered by email. They go through an outbox (the
// invitations table): a row is queued in the transaction that causes it, and the server's
// mail worker sends it later, retrying with backoff, so that a mail server outage loses
// no invitation and no SCIM request ever waits for mail.
//
// No code is stored with an invitation. The worker issues a fresh setup code at the moment
// it sends (StartInvite), so that the code in the mail is valid, replaces any earlier one,
// and exists nowhere but in that mail. If a send fails after the code was issued, the code
// is simply never seen, and the next attempt voids it with a new one.

// Why an invitation was queued.
const (
	// InviteProvisioned: the identity provider created the user (with --invite auto).
	InviteProvisioned = "provisioned"
	// InviteReactivated: the identity provider re-activated a pending user.
	InviteReactivated = "reactivated"
	// InviteAdmin: an admin asked for it (`users invite`, the console).
	InviteAdmin = "admin"
)

// InviteReactivateEvery rate-limits invitations on re-activation: an identity provider
// that toggles a user's active flag sends them one mail per this period at most.
const InviteReactivateEvery = 24 * time.Hour

// InviteMaxAge is how long an unsent invitation keeps being retried. Past it the worker
// gives up, so that a mail that could not go out for days does not surprise anyone.
const InviteMaxAge = 7 * 24 * time.Hour

var (
	// ErrNoAddress means the user has no email address to send an invitation to.
	ErrNoAddress = errors.New("user has no email address")
	// ErrInviteClosed means the invitation was sent or given up already, or its user can
	// no longer be invited (no longer pending): there is nothing to send.
	ErrInviteClosed = errors.New("invitation is no longer open")
)

// Invitation is one row of the outbox: an emailed setup code, queued, sent or given up.
type Invitation struct {
	ID        int64
	UserID    string
	UserName  string
	Address   string // the recipient: the user's address when queued, then at the last attempt
	Reason    string // InviteProvisioned, InviteReactivated or InviteAdmin
	InvitedBy string // the actor who caused it ("scim" for the identity provider)
	Created   time.Time
	Attempts  int       // sends tried so far
	NextAt    time.Time // the next attempt is not before this
	LastError string    // why the last attempt failed; "" if none did
	Sent      time.Time // zero: not sent
	// CodeExpires is when the code in the sent mail expires (zero until sent).
	CodeExpires time.Time
	Failed      time.Time // zero: not given up
}

// Open reports whether the invitation is still to be sent.
func (i Invitation) Open() bool { return i.Sent.IsZero() && i.Failed.IsZero() }

// State is the invitation's state in a word: queued, retrying, sent or failed.
func (i Invitation) State() string {
	switch {
	case !i.Sent.IsZero():
		return "sent"
	case !i.Failed.IsZero():
		return "failed"
	case i.Attempts > 0:
		return "retrying"
	}
	return "queued"
}

// InviteAddress is where an invitation to u goes: the primary email, else the userName
// when it is an address; ErrNoAddress if neither is.
func InviteAddress(u User) (string, error) {
	for _, s := range []string{u.Email, u.UserName} {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		// Only a bare address: a display name or anything mail.ParseAddress would rewrite
		// (quotes, comments, line breaks) is not something to put in a header as is.
		if a, err := mail.ParseAddress(s); err == nil && a.Address == s && a.Name == "" {
			return s, nil
		}
	}
	return "", fmt.Errorf("%s: %w", u.UserName, ErrNoAddress)
}

const inviteCols = `i.id, u.id, u.user_name, i.address, i.reason, i.invited_by, i.created_at, i.attempts, i.next_at,
	i.last_error, i.sent_at, i.code_expires_at, i.failed_at`

func scanInvite(s interface{ Scan(...any) error }) (Invitation, error) {
	var i Invitation
	var created, next int64
	var sent, codeExp, failed sql.NullInt64
	err := s.Scan(&i.ID, &i.UserID, &i.UserName, &i.Address, &i.Reason, &i.InvitedBy, &created, &i.Attempts, &next,
		&i.LastError, &sent, &codeExp, &failed)
	if err != nil {
		return i, mapErr(err)
	}
	i.Created, i.NextAt = fromMS(created), fromMS(next)
	i.Sent, i.CodeExpires, i.Failed = nullMS(sent), nullMS(codeExp), nullMS(failed)
	return i, nil
}

// EnqueueInvite queues an invitation for u, a user read in this transaction, so that it
// commits (or not) with the change that causes it. It reports whether a row was queued:
// none is when u already has an open invitation, or, for InviteReactivated, when u was
// invited within InviteReactivateEvery. A user who is not pending is refused as
// IssueSetupCode refuses them; one without an address with ErrNoAddress.
func (tx *Tx) EnqueueInvite(ctx context.Context, u User, reason, invitedBy string) (bool, error) {
	if err := canIssue(u, PurposeSetup); err != nil {
		return false, err
	}
	addr, err := InviteAddress(u)
	if err != nil {
		return false, err
	}
	if reason == InviteReactivated {
		var recent int
		if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM invitations WHERE user_seq = ? AND created_at > ?`,
			u.Seq, ms(tx.now.Add(-InviteReactivateEvery))).Scan(&recent); err != nil {
			return false, mapErr(err)
		}
		if recent > 0 {
			return false, nil
		}
	}
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO invitations (user_seq, address, reason, invited_by, created_at, next_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_seq) WHERE sent_at IS NULL AND failed_at IS NULL DO NOTHING`,
		u.Seq, addr, reason, invitedBy, ms(tx.now), ms(tx.now))
	if err != nil {
		return false, mapErr(err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// InviteUser queues an invitation for the pending user with id userID on the admin's
// behalf, recording the action. It reports whether one was queued (false: one was open
// already). Refusals are as EnqueueInvite's; an unknown user is ErrNotFound.
func (d *DB) InviteUser(ctx context.Context, userID, actor string) (bool, error) {
	var queued bool
	err := d.writeAdmin(ctx, func(tx *Tx) error {
		u, err := tx.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if queued, err = tx.EnqueueInvite(ctx, u, InviteAdmin, actor); err != nil || !queued {
			return err
		}
		return tx.InsertEvent(ctx, Event{Kind: "user.invite", Agent: actor, Subject: u.UserName, Outcome: OutcomeOK,
			Summary: "invitation by email queued for " + u.UserName})
	})
	return queued, err
}

// InviteAllPending queues an invitation for every pending user who has nothing out: no
// open invitation and no usable setup code. Users without an address are skipped and
// counted. One admin event records the whole action.
func (d *DB) InviteAllPending(ctx context.Context, actor string) (queued, noAddress int, err error) {
	err = d.writeAdmin(ctx, func(tx *Tx) error {
		queued, noAddress = 0, 0
		rows, err := tx.tx.QueryContext(ctx, `SELECT `+userCols+` FROM users u WHERE `+nothingOut, ms(tx.now))
		if err != nil {
			return mapErr(err)
		}
		var users []User
		for rows.Next() {
			u, err := scanUser(rows, false)
			if err != nil {
				rows.Close()
				return err
			}
			users = append(users, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return mapErr(err)
		}
		for _, u := range users {
			ok, err := tx.EnqueueInvite(ctx, u, InviteAdmin, actor)
			switch {
			case errors.Is(err, ErrNoAddress):
				noAddress++
			case err != nil:
				return err
			case ok:
				queued++
			}
		}
		summary := fmt.Sprintf("invitations by email queued for %d pending users with nothing out", queued)
		if noAddress > 0 {
			summary += fmt.Sprintf(" (%d without an email address skipped)", noAddress)
		}
		return tx.InsertEvent(ctx, Event{Kind: "user.invite", Agent: actor, Outcome: OutcomeOK, Summary: summary})
	})
	return queued, noAddress, err
}

// pendingUser is the SQL condition of a pending user u.
const pendingUser = `u.active = 1 AND NOT EXISTS (SELECT 1 FROM user_keys k WHERE k.user_seq = u.seq)`

// nothingOut is the SQL condition of a pending user u with no open invitation and no
// setup code usable at the time given as its one argument.
const nothingOut = pendingUser + `
	AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.user_seq = u.seq AND i.sent_at IS NULL AND i.failed_at IS NULL)
	AND NOT EXISTS (SELECT 1 FROM setup_codes c WHERE c.user_seq = u.seq AND c.purpose = 'setup'
		AND c.used_at IS NULL AND c.attempts_left > 0 AND c.expires_at > ?1)`

// DueInvitations returns up to limit open invitations whose next attempt is due at now,
// oldest first.
func (d *DB) DueInvitations(ctx context.Context, now time.Time, limit int) ([]Invitation, error) {
	rows, err := d.r.QueryContext(ctx, `SELECT `+inviteCols+` FROM invitations i JOIN users u ON u.seq = i.user_seq
		WHERE i.sent_at IS NULL AND i.failed_at IS NULL AND i.next_at <= ? ORDER BY i.next_at, i.id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []Invitation
	for rows.Next() {
		i, err := scanInvite(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, mapErr(rows.Err())
}

// StartInvite begins an attempt to send invitation id: it counts the attempt, sets the
// next one for retryAt (so that a crash mid-send retries then, not at once), and issues
// a fresh setup code for its user, replacing any earlier one. It returns the invitation,
// the code's record and the code itself, which the caller puts in the mail and nowhere
// else.
//
// If the invitation is no longer open, or its user is no longer pending (ready,
// deactivated), the invitation is given up, saying why, and the error wraps
// ErrInviteClosed.
func (d *DB) StartInvite(ctx context.Context, id int64, retryAt time.Time) (Invitation, SetupCode, string, error) {
	return d.startInvite(ctx, id, retryAt, true)
}

// StartSignInInvite begins an attempt as StartInvite does, but issues no code: the user
// finishes setup by signing in with the identity provider (OpenID Connect is set up), so
// the mail carries no secret at all, and a code the user may hold stays as it is.
func (d *DB) StartSignInInvite(ctx context.Context, id int64, retryAt time.Time) (Invitation, error) {
	inv, _, _, err := d.startInvite(ctx, id, retryAt, false)
	return inv, err
}

func (d *DB) startInvite(ctx context.Context, id int64, retryAt time.Time, withCode bool) (Invitation, SetupCode, string, error) {
	code, err := newSetupCode()
	if err != nil {
		return Invitation{}, SetupCode{}, "", err
	}
	hash := d.hashCode(code)
	var inv Invitation
	var c SetupCode
	var closed error
	err = d.Write(ctx, func(tx *Tx) error {
		closed = nil // a run again after a rollback starts afresh (see Write)
		i, err := scanInvite(tx.tx.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invitations i JOIN users u ON u.seq = i.user_seq WHERE i.id = ?`, id))
		if err != nil {
			return err
		}
		inv = i
		if !i.Open() {
			closed = fmt.Errorf("invitation %d for %s is %s: %w", id, i.UserName, i.State(), ErrInviteClosed)
			return nil
		}
		u, err := tx.UserByID(ctx, i.UserID)
		if err != nil {
			return err
		}
		if err := canIssue(u, PurposeSetup); err != nil {
			closed = fmt.Errorf("%w: %w", ErrInviteClosed, err)
			return tx.closeInvite(ctx, &inv, err.Error())
		}
		if tx.now.Sub(i.Created) > InviteMaxAge {
			closed = fmt.Errorf("%w: not sent within %s, given up", ErrInviteClosed, InviteMaxAge)
			return tx.closeInvite(ctx, &inv, fmt.Sprintf("%s (not sent within %s)", i.LastError, InviteMaxAge))
		}
		// The address as the identity provider says now: it may have corrected it since.
		addr, err := InviteAddress(u)
		if err != nil {
			closed = fmt.Errorf("%w: %w", ErrInviteClosed, err)
			return tx.closeInvite(ctx, &inv, err.Error())
		}
		inv.Attempts++
		inv.NextAt = retryAt
		inv.Address = addr
		if _, err := tx.tx.ExecContext(ctx, `UPDATE invitations SET attempts = ?, next_at = ?, address = ? WHERE id = ?`,
			inv.Attempts, ms(retryAt), addr, id); err != nil {
			return mapErr(err)
		}
		if !withCode {
			return nil
		}
		if c, err = tx.storeCode(ctx, u, PurposeSetup, hash, SetupCodeTTL, SetupCodeAttempts); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, Event{Kind: "user.setup_code", Agent: "mailer", Subject: u.UserName, Outcome: OutcomeOK,
			Summary: fmt.Sprintf("setup code issued for %s to be emailed to %s (attempt %d, valid until %s, single use); any earlier code is void",
				u.UserName, addr, inv.Attempts, c.Expires.Format("2006-01-02 15:04 MST"))})
	})
	if err != nil {
		return Invitation{}, SetupCode{}, "", err
	}
	if closed != nil {
		return inv, SetupCode{}, "", closed
	}
	if !withCode {
		return inv, SetupCode{}, "", nil
	}
	return inv, c, FormatSetupCode(code), nil
}

// closeInvite gives the open invitation up, saying why, with an audit event.
func (tx *Tx) closeInvite(ctx context.Context, inv *Invitation, why string) error {
	inv.Failed, inv.LastError = tx.now, why
	if _, err := tx.tx.ExecContext(ctx, `UPDATE invitations SET failed_at = ?, last_error = ? WHERE id = ?`,
		ms(tx.now), why, inv.ID); err != nil {
		return mapErr(err)
	}
	return tx.InsertEvent(ctx, Event{Kind: "user.invite", Agent: "mailer", Subject: inv.UserName, Outcome: OutcomeFail,
		Summary: "invitation to " + inv.Address + " given up: " + why})
}

// InviteSent records that invitation id went out, carrying a code valid until codeExpires
// (zero: a sign-in invitation, with no code).
func (d *DB) InviteSent(ctx context.Context, id int64, codeExpires time.Time) error {
	return d.Write(ctx, func(tx *Tx) error {
		i, err := scanInvite(tx.tx.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invitations i JOIN users u ON u.seq = i.user_seq WHERE i.id = ?`, id))
		if err != nil {
			return err
		}
		var exp sql.NullInt64
		what := "to sign in with the identity provider"
		if !codeExpires.IsZero() {
			exp = sql.NullInt64{Int64: ms(codeExpires), Valid: true}
			what = "its code is valid until " + codeExpires.Format("2006-01-02 15:04 MST")
		}
		if _, err := tx.tx.ExecContext(ctx, `UPDATE invitations SET sent_at = ?, code_expires_at = ?, last_error = '' WHERE id = ?`,
			ms(tx.now), exp, id); err != nil {
			return mapErr(err)
		}
		return tx.InsertEvent(ctx, Event{Kind: "user.invite", Agent: "mailer", Subject: i.UserName, Outcome: OutcomeOK,
			Summary: fmt.Sprintf("invitation emailed to %s (attempt %d); %s", i.Address, i.Attempts, what)})
	})
}

// InviteFailed records why an attempt to send invitation id failed. The next attempt is
// already set (StartInvite's retryAt) unless permanent, which gives the invitation up: the
// mail server refused it for good (an unknown mailbox, a rejected sender).
func (d *DB) InviteFailed(ctx context.Context, id int64, why string, permanent bool) error {
	why = truncateRunes(why, 300)
	return d.Write(ctx, func(tx *Tx) error {
		i, err := scanInvite(tx.tx.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invitations i JOIN users u ON u.seq = i.user_seq WHERE i.id = ?`, id))
		if err != nil {
			return err
		}
		if permanent {
			return tx.closeInvite(ctx, &i, why)
		}
		if _, err := tx.tx.ExecContext(ctx, `UPDATE invitations SET last_error = ? WHERE id = ?`, why, id); err != nil {
			return mapErr(err)
		}
		// A failure of the first attempt is worth an audit line; a long outage is not worth
		// one per retry (the console shows the attempts and the last error).
		if i.Attempts > 1 {
			return nil
		}
		return tx.InsertEvent(ctx, Event{Kind: "user.invite", Agent: "mailer", Subject: i.UserName, Outcome: OutcomeFail,
			Summary: "invitation to " + i.Address + " not sent yet, will retry: " + why})
	})
}

// DeferInvite counts a failed attempt at invitation id that got no further than the mail
// server (down, refusing the connection or the login): no code was issued for it. The next
// attempt is at retryAt; past InviteMaxAge the invitation is given up.
func (d *DB) DeferInvite(ctx context.Context, id int64, why string, retryAt time.Time) error {
	why = truncateRunes(why, 300)
	return d.Write(ctx, func(tx *Tx) error {
		i, err := scanInvite(tx.tx.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invitations i JOIN users u ON u.seq = i.user_seq WHERE i.id = ?`, id))
		if err != nil {
			return err
		}
		if !i.Open() {
			return nil
		}
		if tx.now.Sub(i.Created) > InviteMaxAge {
			return tx.closeInvite(ctx, &i, fmt.Sprintf("%s (not sent within %s)", why, InviteMaxAge))
		}
		i.Attempts++
		if _, err := tx.tx.ExecContext(ctx, `UPDATE invitations SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?`,
			i.Attempts, ms(retryAt), why, id); err != nil {
			return mapErr(err)
		}
		if i.Attempts > 1 {
			return nil
		}
		return tx.InsertEvent(ctx, Event{Kind: "user.invite", Agent: "mailer", Subject: i.UserName, Outcome: OutcomeFail,
			Summary: "invitation to " + i.Address + " not sent yet, will retry: " + why})
	})
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// LatestInvite is the user's most recent invitation, or ErrNotFound if they never had one.
func (d *DB) LatestInvite(ctx context.Context, userID string) (Invitation, error) {
	return scanInvite(d.r.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invitations i JOIN users u ON u.seq = i.user_seq
		WHERE u.id = ? ORDER BY i.id DESC LIMIT 1`, userID))
}

// OnboardingCounts is where the pending users stand.
type OnboardingCounts struct {
	Pending    int // active users without a key
	NothingOut int // pending, with no usable setup code and no open invitation
	CodesOut   int // pending, holding a setup code usable now
	Expired    int // pending, whose setup code expired or ran out of attempts unused
	Queued     int // pending, with an invitation waiting to be sent (or retried)
	Failed     int // pending, whose latest invitation was given up
}

// CountOnboarding counts the pending users by what they hold at now, in one read.
func (d *DB) CountOnboarding(ctx context.Context, now time.Time) (OnboardingCounts, error) {
	var c OnboardingCounts
	err := d.r.QueryRowContext(ctx, `SELECT
		count(*),
		coalesce(sum(CASE WHEN c.user_seq IS NOT NULL AND c.used_at IS NULL AND c.attempts_left > 0 AND c.expires_at > ?1 THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN c.user_seq IS NOT NULL AND c.used_at IS NULL AND (c.attempts_left <= 0 OR c.expires_at <= ?1) THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN EXISTS (SELECT 1 FROM invitations i WHERE i.user_seq = u.seq AND i.sent_at IS NULL AND i.failed_at IS NULL) THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN (SELECT i.failed_at FROM invitations i WHERE i.user_seq = u.seq ORDER BY i.id DESC LIMIT 1) IS NOT NULL THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN `+nothingOut+` THEN 1 ELSE 0 END), 0)
		FROM users u LEFT JOIN setup_codes c ON c.user_seq = u.seq AND c.purpose = 'setup'
		WHERE `+pendingUser, ms(now)).Scan(&c.Pending, &c.CodesOut, &c.Expired, &c.Queued, &c.Failed, &c.NothingOut)
	return c, mapErr(err)
}
