package invite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"time"

	"scimdesk/db"
)

// Config is what the mail worker needs.
type Config struct {
	// DB holds the outbox.
	DB *db.DB
	// SMTPURL is --smtp-url (see ParseSMTPURL).
	SMTPURL string
	// From is --smtp-from: the sender address, optionally with a display name.
	From string
	// ServerURL is the base URL users give `scimdesk setup --server`: the server's public
	// URL (scimserver.Server.BaseURL). Called at each send, as it may be known late.
	ServerURL func() string
	// DownloadURL is where users get scimdesk ("": the message says DownloadHint).
	DownloadURL string
	// Logger receives what the worker does: never a password or a code. Nil: discarded.
	Logger *slog.Logger
	// Poll is how often the outbox is read for due invitations (default 5s).
	Poll time.Duration
	// SignIn, if set, reports whether users finish setup by signing in with the identity
	// provider (OpenID Connect is configured): then invitations say so and carry no code.
	// An error is a failed attempt, retried.
	SignIn func(ctx context.Context) (bool, error)
}

// Backoff of the retries: the first retry after RetryBase, each later one after twice the
// wait before, at most RetryMax apart, until db.InviteMaxAge.
const (
	RetryBase = 30 * time.Second
	RetryMax  = time.Hour
)

// retryAfter is the wait before the attempt after attempt number n (1 = the first).
func retryAfter(n int) time.Duration {
	d := RetryBase
	for i := 1; i < n && d < RetryMax; i++ {
		d *= 2
	}
	return min(d, RetryMax)
}

// Mailer drains the outbox: the service runs it as a unit beside the SCIM server.
type Mailer struct {
	cfg  Config
	t    *Transport
	log  *slog.Logger
	kick chan struct{}
}

// New checks the configuration; nothing is sent until Run or DeliverDue.
func New(cfg Config) (*Mailer, error) {
	if cfg.DB == nil {
		return nil, errors.New("invite: no database")
	}
	t, err := ParseSMTPURL(cfg.SMTPURL)
	if err != nil {
		return nil, err
	}
	if cfg.From == "" {
		return nil, errors.New("--smtp-url needs --smtp-from, the address invitations come from")
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("--smtp-from %q is not an email address: %v", cfg.From, err)
	}
	if cfg.ServerURL == nil {
		return nil, errors.New("invite: no server URL")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	return &Mailer{cfg: cfg, t: t, log: cfg.Logger, kick: make(chan struct{}, 1)}, nil
}

// Transport is the SMTP transport, for tests to trust their own CA.
func (m *Mailer) Transport() *Transport { return m.t }

// Kick makes Run look at the outbox now instead of at its next poll (after this process
// queued an invitation). It never blocks.
func (m *Mailer) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run delivers due invitations until ctx ends. A failing mail server or database is
// logged and retried later; it never stops the service.
func (m *Mailer) Run(ctx context.Context) error {
	m.log.Info("invitations by email on", "smtp", m.t.String(), "from", m.cfg.From)
	for {
		if _, err := m.DeliverDue(ctx, time.Now()); err != nil && ctx.Err() == nil {
			m.log.Warn("invitations not sent, will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case <-time.After(m.cfg.Poll):
		}
	}
}

// DeliverDue sends every invitation due at now, on one SMTP connection, and reports how
// many went out. An invitation that fails is kept for its next attempt (or given up, if
// the server refused it for good); the error is the first failure, for the log.
func (m *Mailer) DeliverDue(ctx context.Context, now time.Time) (int, error) {
	sent := 0
	for {
		due, err := m.cfg.DB.DueInvitations(ctx, now, 50)
		if err != nil || len(due) == 0 {
			return sent, err
		}
		n, err := m.deliver(ctx, now, due)
		sent += n
		if err != nil || len(due) < 50 {
			return sent, err
		}
	}
}

func (m *Mailer) deliver(ctx context.Context, now time.Time, due []db.Invitation) (int, error) {
	// Connect first: a mail server that is down costs no setup code, only an attempt.
	s, err := m.t.dial(ctx)
	if err != nil {
		for _, inv := range due {
			if derr := m.cfg.DB.DeferInvite(ctx, inv.ID, err.Error(), now.Add(retryAfter(inv.Attempts+1))); derr != nil {
				return 0, derr
			}
		}
		return 0, err
	}
	defer s.quit()
	sent := 0
	var first error
	for _, inv := range due {
		if err := m.send(ctx, s, now, inv); err != nil {
			if first == nil {
				first = err
			}
			if !isPermanent(err) && !errors.Is(err, db.ErrInviteClosed) {
				// The connection may be broken: leave the rest for the next round.
				return sent, first
			}
			continue
		}
		sent++
	}
	return sent, first
}

// send issues the code and mails one invitation on the open session.
func (m *Mailer) send(ctx context.Context, s *session, now time.Time, inv db.Invitation) error {
	retry := now.Add(retryAfter(inv.Attempts + 1))
	signIn := false
	if m.cfg.SignIn != nil {
		var err error
		if signIn, err = m.cfg.SignIn(ctx); err != nil {
			err = fmt.Errorf("reading the sign-in settings: %w", err)
			if derr := m.cfg.DB.DeferInvite(ctx, inv.ID, err.Error(), retry); derr != nil {
				return derr
			}
			return err
		}
	}
	var code db.SetupCode
	var secret string
	var err error
	if signIn {
		inv, err = m.cfg.DB.StartSignInInvite(ctx, inv.ID, retry)
	} else {
		inv, code, secret, err = m.cfg.DB.StartInvite(ctx, inv.ID, retry)
	}
	if err != nil {
		if errors.Is(err, db.ErrInviteClosed) {
			m.log.Info("invitation not sent", "user", inv.UserName, "reason", err)
		}
		return err
	}
	msg, err := Message{From: m.cfg.From, To: inv.Address, UserName: inv.UserName, InvitedBy: inv.InvitedBy,
		ServerURL: m.cfg.ServerURL(), DownloadURL: m.cfg.DownloadURL, Code: secret, Expires: code.Expires, Date: time.Now()}.Bytes()
	if err == nil {
		err = s.send(m.envelopeFrom(), inv.Address, msg)
	}
	if err != nil {
		permanent := isPermanent(err)
		m.log.Warn("invitation not sent", "user", inv.UserName, "to", inv.Address, "attempt", inv.Attempts, "permanent", permanent, "err", err)
		if ferr := m.cfg.DB.InviteFailed(ctx, inv.ID, err.Error(), permanent); ferr != nil {
			return ferr
		}
		return err
	}
	m.log.Info("invitation sent", "user", inv.UserName, "to", inv.Address, "attempt", inv.Attempts, "code_expires", code.Expires)
	return m.cfg.DB.InviteSent(ctx, inv.ID, code.Expires)
}

// envelopeFrom is the bare address of --smtp-from.
func (m *Mailer) envelopeFrom() string {
	a, err := mail.ParseAddress(m.cfg.From)
	if err != nil {
		return m.cfg.From
	}
	return a.Address
}
