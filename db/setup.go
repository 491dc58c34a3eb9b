package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Setup codes let a user finish their master key in a terminal. The admin issues one per
// user (from the console or `scimdesk users setup-code`); it is shown once and only its
// keyed hash is stored (see codekey.go). A user holds at most one code: issuing a new one
// replaces (voids) the old.
//
// The code alone names the redemption: it is looked up by its keyed hash, and the email
// the user types is checked against the user the code belongs to. So a wrong code finds
// nothing and changes nothing, whatever email comes with it: a stranger who knows an email
// can neither learn that a code is out for it nor use up its attempts. What makes online
// guessing hopeless is the code's 90 random bits (with the API's rate limits), not an
// attempt counter. The attempts left count only wrong emails typed with the right code,
// which only someone holding the code can spend.

// Code purposes: what a code lets its holder do.
const (
	// PurposeSetup lets a pending user upload their first master key.
	PurposeSetup = "setup"
	// PurposeRecover lets a ready user replace a forgotten passphrase, using the recovery
	// key they were shown at setup.
	PurposeRecover = "recover"
)

// The code policy.
const (
	// SetupCodeTTL is how long a code stays valid after it is issued.
	SetupCodeTTL = 24 * time.Hour
	// SetupCodeAttempts is how many wrong emails, typed with the right code, the code
	// survives. A wrong code costs nothing: it matches no code at all.
	SetupCodeAttempts = 5
	// SetupCodeLen is the number of significant characters in a code: codeRandomLen
	// random symbols (90 bits) and codeCheckLen check symbols.
	SetupCodeLen = codeRandomLen + codeCheckLen
	// SetupCodeExample shows the shape of a code in messages.
	SetupCodeExample = "ABCDE-FGHJK-MNPQR-STVWX"
)

const (
	codeRandomLen = 18 // 18 symbols of 5 bits: 90 bits
	codeCheckLen  = 2  // 10 bits that catch a typo before any lookup
	codeGroup     = 5  // symbols per group when shown: XXXXX-XXXXX-XXXXX-XXXXX
)

// codeAlphabet is Crockford's base32 (no I, L, O, U), so that a code read aloud or copied
// by hand survives; the recovery keys of package keys use the same alphabet.
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Refusals. A refused code comes back as a *CodeError wrapping one of these; IssueSetupCode
// uses the user-state ones too.
var (
	// ErrCodeFormat means the text cannot be a code at all (length, characters). It is told
	// before any lookup and costs nothing: it reveals nothing about any real code.
	ErrCodeFormat = errors.New("not a code: a code is 20 letters and digits, like " + SetupCodeExample)
	// ErrCodeTypo means the code's check symbols do not match: a typo, found without any
	// lookup, so it reveals nothing either.
	ErrCodeTypo = errors.New("the code has a typo: check it letter by letter")
	// ErrCodeUnknown means no code like this exists (never issued, replaced by a newer
	// one, or its user deleted). The answer is the same whatever the email.
	ErrCodeUnknown = errors.New("unknown code: check it, or ask your admin for a new one")
	// ErrCodeEmail means the code exists but was issued to someone with another email. Only
	// a holder of the code can get this answer, and each one costs the code an attempt.
	ErrCodeEmail = errors.New("this code was issued for another email address")
	// ErrCodeExhausted means the code took SetupCodeAttempts wrong emails and is dead.
	ErrCodeExhausted = errors.New("too many wrong attempts")
	// ErrCodeExpired means the code is older than SetupCodeTTL.
	ErrCodeExpired = errors.New("code expired")
	// ErrCodeUsed means the code has already been used (codes are single use).
	ErrCodeUsed = errors.New("code already used")
	// ErrCodePurpose means a setup code was presented for recovery or the other way round.
	ErrCodePurpose = errors.New("code is for another purpose")
	// ErrUserDeactivated means the identity provider has deactivated the user.
	ErrUserDeactivated = errors.New("user is deactivated")
	// ErrUserReady means the user already has a master key (so needs no setup code).
	ErrUserReady = errors.New("user already has a master key")
	// ErrUserNoKey means the user has no master key yet (so there is nothing to recover).
	ErrUserNoKey = errors.New("user has no master key yet")
)

// CodeError is a refused code: the rule that refused it and what may be told about it.
type CodeError struct {
	// Err is one of the refusals above.
	Err error
	// AttemptsLeft is, after a wrong email typed with a real code, how many tries remain;
	// -1 when there is nothing to tell.
	AttemptsLeft int
	// UserName is the user the code belongs to, for the audit log; "" if none.
	UserName string
	// Purpose is the presented code's real purpose, for ErrCodePurpose.
	Purpose string
}

// Error is the refusal in words, with the attempts left after a wrong email.
func (e *CodeError) Error() string {
	if errors.Is(e.Err, ErrCodeEmail) && e.AttemptsLeft >= 0 {
		return fmt.Sprintf("%v (%d attempts left)", e.Err, e.AttemptsLeft)
	}
	return e.Err.Error()
}

// Unwrap makes errors.Is see the refusal.
func (e *CodeError) Unwrap() error { return e.Err }

// SetupCode is a setup or recovery code as stored: never the code, only its keyed hash.
type SetupCode struct {
	UserID       string
	UserName     string
	Purpose      string // PurposeSetup or PurposeRecover
	Created      time.Time
	Expires      time.Time
	Used         time.Time // zero: not used
	AttemptsLeft int       // wrong emails the code still survives
}

// Usable reports whether the code can still be redeemed at now.
func (c SetupCode) Usable(now time.Time) bool {
	return c.Used.IsZero() && c.AttemptsLeft > 0 && now.Before(c.Expires)
}

// NormalizeSetupCode reads a code as a person types it: case, spaces and dashes do not
// matter, and O, I and L read as 0, 1 and 1. It returns the canonical form (20 characters,
// no dash), ErrCodeFormat if the text cannot be a code, or ErrCodeTypo if its check
// symbols do not match.
func NormalizeSetupCode(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r) || unicode.Is(unicode.Pd, r):
			continue
		case r == 'o' || r == 'O':
			r = '0'
		case r == 'i' || r == 'I' || r == 'l' || r == 'L':
			r = '1'
		}
		r = unicode.ToUpper(r)
		if r >= 0x80 || !strings.ContainsRune(codeAlphabet, r) || b.Len() >= SetupCodeLen {
			return "", ErrCodeFormat
		}
		b.WriteRune(r)
	}
	if b.Len() != SetupCodeLen {
		return "", ErrCodeFormat
	}
	canon := b.String()
	if codeCheck(canon[:codeRandomLen]) != canon[codeRandomLen:] {
		return "", ErrCodeTypo
	}
	return canon, nil
}

// codeCheck is the check symbols of a code's random part: 10 bits of its SHA-256. A typo
// gets through with odds of 1 in 1024 and then simply finds no code; what the check buys
// is a precise answer ("typo") for the real user without asking the database.
func codeCheck(body string) string {
	h := sha256.Sum256([]byte("scimdesk code check\x00" + body))
	v := int(h[0])<<2 | int(h[1])>>6 // the first 10 bits
	return string([]byte{codeAlphabet[v>>5], codeAlphabet[v&31]})
}

// FormatSetupCode shows a canonical code the way people read it: XXXXX-XXXXX-XXXXX-XXXXX.
func FormatSetupCode(code string) string {
	if len(code) != SetupCodeLen {
		return code
	}
	var b strings.Builder
	for i := 0; i < len(code); i += codeGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(code[i : i+codeGroup])
	}
	return b.String()
}

// newSetupCode draws a canonical code: 18 random symbols of 5 bits each (90 bits) and
// their two check symbols.
func newSetupCode() (string, error) {
	raw := make([]byte, codeRandomLen)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	for i, b := range raw {
		raw[i] = codeAlphabet[b&31] // 256 is a multiple of 32, so every symbol is equally likely
	}
	return string(raw) + codeCheck(string(raw)), nil
}

// IssueSetupCode mints a code of the given purpose for the user with id userID, replacing
// any code the user held, and records the admin action (never the code). It returns the
// code, formatted XXXXX-XXXXX-XXXXX-XXXXX, which exists nowhere else: the caller shows it
// once.
//
// A setup code is only for a pending user (active, no key); a recovery code only for a
// ready one. Otherwise the error wraps ErrUserDeactivated, ErrUserReady or ErrUserNoKey
// with a sentence the admin can act on; an unknown user is ErrNotFound.
//
// This is the single way codes are made, for the console's Users tab and for the CLI.
func (d *DB) IssueSetupCode(ctx context.Context, userID, purpose, actor string) (SetupCode, string, error) {
	if purpose != PurposeSetup && purpose != PurposeRecover {
		return SetupCode{}, "", fmt.Errorf("unknown code purpose %q", purpose)
	}
	// A new code colliding with another user's live code (the hash is UNIQUE) is a 2^-90
	// event; drawing again is all it takes.
	for try := 0; ; try++ {
		c, code, err := d.issueSetupCode(ctx, userID, purpose, actor, SetupCodeTTL, SetupCodeAttempts)
		if errors.Is(err, ErrConflict) && try < 3 {
			continue
		}
		return c, code, err
	}
}

func (d *DB) issueSetupCode(ctx context.Context, userID, purpose, actor string, ttl time.Duration, attempts int) (SetupCode, string, error) {
	code, err := newSetupCode()
	if err != nil {
		return SetupCode{}, "", err
	}
	hash := d.hashCode(code)
	var c SetupCode
	err = d.writeAdmin(ctx, func(tx *Tx) error {
		u, err := tx.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if err := canIssue(u, purpose); err != nil {
			return err
		}
		if c, err = tx.storeCode(ctx, u, purpose, hash, ttl, attempts); err != nil {
			return err
		}
		kind, what := "user.setup_code", "setup code"
		if purpose == PurposeRecover {
			kind, what = "user.recovery_code", "recovery code"
		}
		return tx.InsertEvent(ctx, Event{Kind: kind, Agent: actor, Subject: u.UserName, Outcome: OutcomeOK,
			Summary: fmt.Sprintf("%s issued for %s (valid until %s, single use); any earlier code is void",
				what, u.UserName, c.Expires.Format("2006-01-02 15:04 MST"))})
	})
	if err != nil {
		return SetupCode{}, "", err
	}
	return c, FormatSetupCode(code), nil
}

// storeCode stores the code with keyed hash for u, replacing the one u held.
func (tx *Tx) storeCode(ctx context.Context, u User, purpose string, hash []byte, ttl time.Duration, attempts int) (SetupCode, error) {
	c := SetupCode{UserID: u.ID, UserName: u.UserName, Purpose: purpose, Created: tx.now,
		Expires: tx.now.Add(ttl), AttemptsLeft: attempts}
	// An upsert on the user, not INSERT OR REPLACE: REPLACE would also delete another
	// user's row whose hash collided, instead of failing.
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO setup_codes (user_seq, purpose, code_hash, created_at, expires_at, attempts_left, used_at)
		VALUES (?, ?, ?, ?, ?, ?, NULL)
		ON CONFLICT (user_seq) DO UPDATE SET purpose = excluded.purpose, code_hash = excluded.code_hash,
			created_at = excluded.created_at, expires_at = excluded.expires_at,
			attempts_left = excluded.attempts_left, used_at = NULL`,
		u.Seq, purpose, hash, ms(c.Created), ms(c.Expires), attempts)
	return c, mapErr(err)
}

// canIssue says whether u may get a code of purpose, in words the admin can act on.
func canIssue(u User, purpose string) error {
	switch {
	case !u.Active:
		return &stateError{ErrUserDeactivated, u.UserName + " is deactivated in the identity provider, so cannot set up or recover a key"}
	case purpose == PurposeSetup && u.HasKey:
		return &stateError{ErrUserReady, u.UserName + " is already ready; if they forgot their passphrase, issue a recovery code instead"}
	case purpose == PurposeRecover && !u.HasKey:
		return &stateError{ErrUserNoKey, u.UserName + " is still pending, with no key to recover; issue a setup code instead"}
	}
	return nil
}

// stateError is a refusal to issue a code: a sentence for the admin that errors.Is still
// matches against the sentinel.
type stateError struct {
	err error
	msg string
}

func (e *stateError) Error() string { return e.msg }
func (e *stateError) Unwrap() error { return e.err }

// SetupCodeOf returns the code the user holds (used, expired or live), or ErrNotFound.
func (d *DB) SetupCodeOf(ctx context.Context, userID string) (SetupCode, error) {
	var c SetupCode
	var created, expires int64
	var used sql.NullInt64
	err := d.r.QueryRowContext(ctx, `SELECT u.id, u.user_name, c.purpose, c.created_at, c.expires_at, c.used_at, c.attempts_left
		FROM setup_codes c JOIN users u ON u.seq = c.user_seq WHERE u.id = ?`, userID).
		Scan(&c.UserID, &c.UserName, &c.Purpose, &created, &expires, &used, &c.AttemptsLeft)
	if err != nil {
		return c, mapErr(err)
	}
	c.Created, c.Expires, c.Used = fromMS(created), fromMS(expires), nullMS(used)
	return c, nil
}

// CheckSetupCode checks that email and code name a user who may, at now, do what purpose
// says, without using the code up; it returns the user. A wrong email typed with a real
// code costs that code an attempt, and that is committed although the check fails; a wrong
// code costs nothing. Refusals are *CodeError.
func (d *DB) CheckSetupCode(ctx context.Context, email, code, purpose string, now time.Time) (User, error) {
	var u User
	err := d.redeem(ctx, email, code, purpose, now, func(_ *Tx, user User) (bool, error) {
		u = user
		return false, nil
	})
	return u, err
}

// RedeemSetupCode checks email and code as CheckSetupCode does and, if they pass, runs fn
// in the same transaction and then marks the code used. If fn fails, nothing is written:
// the code stays usable. fn stores the key (InsertUserKey or SetPassphraseBlob) and the
// event, so that the key, the spent code and the audit line commit together.
func (d *DB) RedeemSetupCode(ctx context.Context, email, code, purpose string, now time.Time, fn func(tx *Tx, u User) error) error {
	return d.redeem(ctx, email, code, purpose, now, func(tx *Tx, u User) (bool, error) {
		return true, fn(tx, u)
	})
}

// redeem is the one code check. fn runs once the code has passed; it says whether to burn it.
func (d *DB) redeem(ctx context.Context, email, code, purpose string, now time.Time, fn func(*Tx, User) (bool, error)) error {
	canon, err := NormalizeSetupCode(code)
	if err != nil {
		return &CodeError{Err: err, AttemptsLeft: -1}
	}
	hash := d.hashCode(canon)
	if !d.codeExists(ctx, hash) {
		// Answered from a reader: a flood of wrong codes never queues on the one writer
		// that SCIM provisioning needs too.
		return &CodeError{Err: ErrCodeUnknown, AttemptsLeft: -1}
	}
	var refusal error
	err = d.Write(ctx, func(tx *Tx) error {
		refusal = nil // a run again after a rollback starts afresh (see Write)
		u, c, err := tx.codeByHash(ctx, hash)
		if errors.Is(err, ErrNotFound) {
			// Nothing about any user is told or changed: the email is not even looked at.
			refusal = &CodeError{Err: ErrCodeUnknown, AttemptsLeft: -1}
			return nil
		}
		if err != nil {
			return err
		}
		refuse := func(e error) error {
			refusal = &CodeError{Err: e, AttemptsLeft: c.AttemptsLeft, UserName: u.UserName, Purpose: c.Purpose}
			return nil
		}
		if c.AttemptsLeft <= 0 {
			return refuse(ErrCodeExhausted)
		}
		if !emailNames(u, email) {
			c.AttemptsLeft--
			if _, err := tx.tx.ExecContext(ctx, `UPDATE setup_codes SET attempts_left = ? WHERE user_seq = ?`, c.AttemptsLeft, u.Seq); err != nil {
				return mapErr(err)
			}
			if c.AttemptsLeft == 0 {
				return refuse(ErrCodeExhausted)
			}
			return refuse(ErrCodeEmail)
		}
		// From here on the holder has proved they have the code and know whose it is, so
		// they may learn exactly why it does not work.
		switch {
		case !c.Used.IsZero():
			return refuse(ErrCodeUsed)
		case !now.Before(c.Expires):
			return refuse(ErrCodeExpired)
		case c.Purpose != purpose:
			return refuse(ErrCodePurpose)
		case !u.Active:
			return refuse(ErrUserDeactivated)
		case purpose == PurposeSetup && u.HasKey:
			return refuse(ErrUserReady)
		case purpose == PurposeRecover && !u.HasKey:
			return refuse(ErrUserNoKey)
		}
		burn, err := fn(tx, u)
		if err != nil || !burn {
			return err
		}
		_, err = tx.tx.ExecContext(ctx, `UPDATE setup_codes SET used_at = ? WHERE user_seq = ?`, ms(tx.now), u.Seq)
		return mapErr(err)
	})
	if err != nil {
		return err
	}
	return refusal
}

// codeExists reports whether a code with this keyed hash is stored. On a read error it
// says yes, so that the transaction that follows decides (and reports the error).
func (d *DB) codeExists(ctx context.Context, hash []byte) bool {
	var one int
	err := d.r.QueryRowContext(ctx, `SELECT 1 FROM setup_codes WHERE code_hash = ?`, hash).Scan(&one)
	return !errors.Is(err, sql.ErrNoRows)
}

// emailNames reports whether what the user typed as their email names u: their email or
// their userName (often the same), compared as the columns are normalised.
func emailNames(u User, typed string) bool {
	n := Fold(strings.TrimSpace(typed))
	return n != "" && (n == Fold(u.UserName) || n == Fold(strings.TrimSpace(u.Email)))
}

// codeByHash finds the code with this keyed hash and the user who holds it, or ErrNotFound.
func (tx *Tx) codeByHash(ctx context.Context, hash []byte) (User, SetupCode, error) {
	var c SetupCode
	var seq, created, expires int64
	var used sql.NullInt64
	err := tx.tx.QueryRowContext(ctx, `SELECT user_seq, purpose, created_at, expires_at, used_at, attempts_left
		FROM setup_codes WHERE code_hash = ?`, hash).Scan(&seq, &c.Purpose, &created, &expires, &used, &c.AttemptsLeft)
	if err != nil {
		return User{}, c, mapErr(err)
	}
	u, err := scanUser(tx.tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.seq = ?`, seq), false)
	if err != nil {
		return User{}, c, err
	}
	c.UserID, c.UserName = u.ID, u.UserName
	c.Created, c.Expires, c.Used = fromMS(created), fromMS(expires), nullMS(used)
	return u, c, nil
}

// UserKey is a user's master key as the server keeps it: the public key and the private
// key wrapped twice, as the JSON the client sent. There is no unwrapped key material here,
// and none anywhere in the database.
type UserKey struct {
	Alg        string
	PublicKey  []byte
	Passphrase string // JSON: the private key wrapped under the passphrase (argon2id)
	Recovery   string // JSON: the private key wrapped under the recovery key
	Created    time.Time
	Updated    time.Time
}

// InsertUserKey stores the first master key of the user with seq; ErrConflict if the user
// has one already.
func (tx *Tx) InsertUserKey(ctx context.Context, userSeq int64, k UserKey) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO user_keys (user_seq, key_alg, public_key, wrapped_key, recovery_key, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, userSeq, k.Alg, k.PublicKey, k.Passphrase, k.Recovery, ms(tx.now), ms(tx.now))
	return mapErr(err)
}

// SetPassphraseBlob replaces the passphrase-wrapped private key of the user with seq (after
// a recovery); the public key and the recovery blob stay as they are.
func (tx *Tx) SetPassphraseBlob(ctx context.Context, userSeq int64, blob string) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE user_keys SET wrapped_key = ?, updated_at = ? WHERE user_seq = ?`, blob, ms(tx.now), userSeq)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("key of user %d: %w", userSeq, ErrNotFound)
	}
	return nil
}

func userKey(ctx context.Context, q querier, where string, arg any) (UserKey, error) {
	var k UserKey
	var created, updated int64
	err := q.QueryRowContext(ctx, `SELECT k.key_alg, k.public_key, k.wrapped_key, k.recovery_key, k.created_at, k.updated_at
		FROM user_keys k JOIN users u ON u.seq = k.user_seq WHERE `+where, arg).
		Scan(&k.Alg, &k.PublicKey, &k.Passphrase, &k.Recovery, &created, &updated)
	k.Created, k.Updated = fromMS(created), fromMS(updated)
	return k, mapErr(err)
}

// UserKey reads the master key of the user with id userID; ErrNotFound if there is none.
func (d *DB) UserKey(ctx context.Context, userID string) (UserKey, error) {
	return userKey(ctx, d.rc, "u.id = ?", userID)
}

// UserKey reads the master key of the user with seq inside the transaction.
func (tx *Tx) UserKey(ctx context.Context, userSeq int64) (UserKey, error) {
	return userKey(ctx, tx.tx, "u.seq = ?", userSeq)
}
