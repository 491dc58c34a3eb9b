package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Sign-in with the identity provider: a pending user proves who they are with an OpenID
// Connect ID token instead of a setup code from the admin. The server verifies the token;
// this file keeps the provider's settings, matches the token's claims to a user and, once
// per token, issues that user a short-lived code that the ordinary setup (or recovery)
// then redeems. The token itself is never stored: only its sha256, until it expires.

const (
	settingOIDCIssuer   = "oidc_issuer"
	settingOIDCClientID = "oidc_client_id"
)

// SignInCodeTTL is how long the code a sign-in issues stays valid: long enough to choose a
// passphrase, short because the client redeems it straight away.
const SignInCodeTTL = 15 * time.Minute

// Sign-in refusals, besides ErrUserDeactivated, ErrUserReady and ErrUserNoKey.
var (
	// ErrSignInUnknown means no user has the signed-in login as userName or email.
	ErrSignInUnknown = errors.New("no provisioned user has this login")
	// ErrSignInAmbiguous means more than one user has it (one by userName, another by email).
	ErrSignInAmbiguous = errors.New("more than one provisioned user has this login")
	// ErrTokenReplayed means this ID token has already started a setup.
	ErrTokenReplayed = errors.New("this sign-in was already used")
)

// OIDCConfig is the OpenID Connect app pending users sign in with.
type OIDCConfig struct {
	Issuer   string // the issuer URL, exactly as the provider's tokens name it
	ClientID string // the app's client id: the audience its ID tokens carry
}

// Configured reports whether sign-in is set up.
func (c OIDCConfig) Configured() bool { return c.Issuer != "" && c.ClientID != "" }

// CheckOIDCConfig says what is wrong with c, or nil: the issuer must be an absolute https
// URL (plain http only on a loopback address, for a provider on the same machine), with
// no query or fragment, and the client id a short printable string.
func CheckOIDCConfig(c OIDCConfig) error {
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		return errors.New("the issuer URL is required")
	case err != nil || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("issuer %q is not an absolute URL, like https://example.okta.com", c.Issuer)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("issuer %q must not have a query, a fragment or a user", c.Issuer)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("issuer %q must use https (plain http only for a loopback address)", c.Issuer)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("issuer %q must use https", c.Issuer)
	case len(c.Issuer) > 500:
		return errors.New("the issuer URL is longer than 500 characters")
	case strings.TrimSpace(c.ClientID) == "":
		return errors.New("the client id is required")
	case len(c.ClientID) > 200:
		return errors.New("the client id is longer than 200 characters")
	}
	for _, r := range c.ClientID {
		if r <= ' ' || r == 0x7f {
			return errors.New("the client id must not contain spaces or control characters")
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// OIDCConfig returns the sign-in settings; the zero value when none are set.
func (d *DB) OIDCConfig(ctx context.Context) (OIDCConfig, error) {
	var c OIDCConfig
	rows, err := d.rc.QueryContext(ctx, `SELECT key, value FROM settings WHERE key IN (?, ?)`, settingOIDCIssuer, settingOIDCClientID)
	if err != nil {
		return c, mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return c, mapErr(err)
		}
		if k == settingOIDCIssuer {
			c.Issuer = v
		} else {
			c.ClientID = v
		}
	}
	return c, mapErr(rows.Err())
}

// SetOIDCConfig stores the sign-in settings after CheckOIDCConfig and records the admin action.
func (d *DB) SetOIDCConfig(ctx context.Context, c OIDCConfig, actor string) error {
	if err := CheckOIDCConfig(c); err != nil {
		return err
	}
	return d.writeAdmin(ctx, func(tx *Tx) error {
		for k, v := range map[string]string{settingOIDCIssuer: c.Issuer, settingOIDCClientID: c.ClientID} {
			if _, err := tx.q.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
				return mapErr(err)
			}
		}
		return tx.InsertEvent(ctx, Event{Kind: "oidc.set", Agent: actor, Outcome: OutcomeOK,
			Summary: fmt.Sprintf("sign-in with the identity provider set: issuer %s, client id %s", c.Issuer, c.ClientID)})
	})
}

// ClearOIDCConfig removes the sign-in settings (setup codes remain the only way) and
// records the admin action.
func (d *DB) ClearOIDCConfig(ctx context.Context, actor string) error {
	return d.writeAdmin(ctx, func(tx *Tx) error {
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM settings WHERE key IN (?, ?)`, settingOIDCIssuer, settingOIDCClientID); err != nil {
			return mapErr(err)
		}
		return tx.InsertEvent(ctx, Event{Kind: "oidc.clear", Agent: actor, Outcome: OutcomeOK,
			Summary: "sign-in with the identity provider cleared: setup codes only"})
	})
}

// SignInError is a refused sign-in: the rule that refused it and the user it matched, if any.
type SignInError struct {
	Err      error
	UserName string
}

func (e *SignInError) Error() string { return e.Err.Error() }

// Unwrap makes errors.Is see the refusal.
func (e *SignInError) Unwrap() error { return e.Err }

// IDTokenHash is how a used ID token is remembered.
func IDTokenHash(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// SignIn is a verified sign-in to grant.
type SignIn struct {
	TokenHash    []byte    // IDTokenHash of the ID token
	TokenExpires time.Time // its exp: until then it is remembered as used
	Login        string    // the verified email, or the preferred_username
	Purpose      string    // PurposeSetup or PurposeRecover
	Event        Event     // the audit line of a granted sign-in, less its subject and summary
}

// CheckSignIn refuses, from a reader, what GrantSignIn would refuse: a used token, a login
// that names no user or several, a user in the wrong state. So that a flood of refused
// sign-ins never queues on the writer, the server asks this first.
func (d *DB) CheckSignIn(ctx context.Context, s SignIn, now time.Time) (User, error) {
	var one int
	err := d.r.QueryRowContext(ctx, `SELECT 1 FROM oidc_used_tokens WHERE token_hash = ? AND expires_at > ?`, s.TokenHash, ms(now)).Scan(&one)
	if err == nil {
		return User{}, &SignInError{Err: ErrTokenReplayed}
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return User{}, mapErr(err)
	}
	return signInUser(ctx, d.rc, s)
}

// GrantSignIn remembers the token as used, checks the user again and issues them a code
// of s.Purpose valid for SignInCodeTTL, replacing any code they held, and records the
// event, all in one transaction. It returns the user and the code, formatted as
// IssueSetupCode's; refusals are *SignInError.
func (d *DB) GrantSignIn(ctx context.Context, s SignIn) (User, SetupCode, string, error) {
	code, err := newSetupCode()
	if err != nil {
		return User{}, SetupCode{}, "", err
	}
	hash := d.hashCode(code)
	var u User
	var c SetupCode
	err = d.Write(ctx, func(tx *Tx) error {
		// Forget a bounded batch of expired tokens each time: the table stays as small as
		// the tokens still valid, without a sweeper.
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM oidc_used_tokens WHERE token_hash IN
			(SELECT token_hash FROM oidc_used_tokens WHERE expires_at <= ? LIMIT 100)`, ms(tx.now)); err != nil {
			return mapErr(err)
		}
		var one int
		err := tx.q.QueryRowContext(ctx, `SELECT 1 FROM oidc_used_tokens WHERE token_hash = ?`, s.TokenHash).Scan(&one)
		if err == nil {
			return &SignInError{Err: ErrTokenReplayed}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return mapErr(err)
		}
		if u, err = signInUser(ctx, tx.q, s); err != nil {
			return err
		}
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO oidc_used_tokens (token_hash, expires_at) VALUES (?, ?)`,
			s.TokenHash, ms(s.TokenExpires)); err != nil {
			return mapErr(err)
		}
		c = SetupCode{UserID: u.ID, UserName: u.UserName, Purpose: s.Purpose, Created: tx.now,
			Expires: tx.now.Add(SignInCodeTTL), AttemptsLeft: SetupCodeAttempts}
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO setup_codes (user_seq, purpose, code_hash, created_at, expires_at, attempts_left, used_at)
			VALUES (?, ?, ?, ?, ?, ?, NULL)
			ON CONFLICT (user_seq) DO UPDATE SET purpose = excluded.purpose, code_hash = excluded.code_hash,
				created_at = excluded.created_at, expires_at = excluded.expires_at,
				attempts_left = excluded.attempts_left, used_at = NULL`,
			u.Seq, s.Purpose, hash, ms(c.Created), ms(c.Expires), c.AttemptsLeft); err != nil {
			return mapErr(err)
		}
		e := s.Event
		e.Subject, e.Outcome = u.UserName, OutcomeOK
		e.Summary = fmt.Sprintf("signed in with the identity provider as %s: %s code issued to the client (valid until %s, single use); any earlier code is void",
			s.Login, s.Purpose, c.Expires.Format("15:04 MST"))
		return tx.InsertEvent(ctx, e)
	})
	if err != nil {
		return User{}, SetupCode{}, "", err
	}
	return u, c, FormatSetupCode(code), nil
}

// signInUser finds the one user whose userName or email is s.Login and checks that they
// may do what s.Purpose says.
func signInUser(ctx context.Context, q querier, s SignIn) (User, error) {
	n := Fold(strings.TrimSpace(s.Login))
	if n == "" {
		return User{}, &SignInError{Err: ErrSignInUnknown}
	}
	rows, err := q.QueryContext(ctx, `SELECT id FROM users WHERE user_name_norm = ?
		UNION SELECT id FROM users WHERE email_norm = ? LIMIT 2`, n, n)
	if err != nil {
		return User{}, mapErr(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return User{}, mapErr(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return User{}, mapErr(err)
	}
	switch len(ids) {
	case 0:
		return User{}, &SignInError{Err: ErrSignInUnknown}
	case 2:
		return User{}, &SignInError{Err: ErrSignInAmbiguous}
	}
	u, err := userByID(ctx, q, ids[0], false)
	if errors.Is(err, ErrNotFound) {
		return User{}, &SignInError{Err: ErrSignInUnknown}
	}
	if err != nil {
		return User{}, err
	}
	refuse := func(e error) (User, error) { return User{}, &SignInError{Err: e, UserName: u.UserName} }
	switch {
	case !u.Active:
		return refuse(ErrUserDeactivated)
	case s.Purpose == PurposeSetup && u.HasKey:
		return refuse(ErrUserReady)
	case s.Purpose == PurposeRecover && !u.HasKey:
		return refuse(ErrUserNoKey)
	case s.Purpose != PurposeSetup && s.Purpose != PurposeRecover:
		return User{}, fmt.Errorf("unknown purpose %q", s.Purpose)
	}
	return u, nil
}
