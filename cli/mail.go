package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"scimdesk/db"
	"scimdesk/termsafe"

	"scimdesk/invite"
	"scimdesk/service"
)

// mailFlags configure invitations by email (console and serve).
type mailFlags struct {
	SMTPURL           string `name:"smtp-url" help:"Email invitations through this SMTP server: smtp://user:pass@host:587 (STARTTLS, required beyond loopback) or smtps://user:pass@host:465 (TLS). Prefer the environment variable: a flag shows in ps." env:"SCIMDESK_SMTP_URL" placeholder:"URL"`
	SMTPFrom          string `name:"smtp-from" help:"The address invitations come from, e.g. scim@example.com or 'IT <it@example.com>'." env:"SCIMDESK_SMTP_FROM" placeholder:"ADDRESS"`
	Invite            string `help:"auto: email a setup code to each user the identity provider creates (and, once a day at most, re-activates); off: only when an admin asks (scimdesk users invite)." enum:"auto,off" default:"off" env:"SCIMDESK_INVITE"`
	ClientDownloadURL string `name:"client-download-url" help:"Where users get scimdesk, named in invitations (default: the message points at the README's section For your users)." env:"SCIMDESK_CLIENT_DOWNLOAD_URL" placeholder:"URL"`
}

// withMail adds to cfg the invitation worker the mail flags ask for.
func withMail(cfg service.Config, f mailFlags) (service.Config, error) {
	if f.SMTPURL == "" {
		switch {
		case f.Invite == "auto":
			return cfg, errors.New("--invite auto needs --smtp-url and --smtp-from: invitations are sent by email")
		case f.SMTPFrom != "" || f.ClientDownloadURL != "":
			return cfg, errors.New("--smtp-from and --client-download-url are for invitations by email: give --smtp-url too")
		}
		return cfg, nil
	}
	// Checked here, so that a bad URL or sender stops serve at once with a clear error.
	if _, err := invite.ParseSMTPURL(f.SMTPURL); err != nil {
		return cfg, err
	}
	cfg.Mail = &invite.Config{SMTPURL: f.SMTPURL, From: f.SMTPFrom, DownloadURL: f.ClientDownloadURL}
	cfg.SCIM.InviteAuto = f.Invite == "auto"
	return cfg, nil
}

type usersInviteCmd struct {
	Email      string `arg:"" optional:"" help:"The pending user's userName or email."`
	AllPending bool   `name:"all-pending" help:"Invite every pending user who has neither a usable setup code nor an invitation on its way."`
}

// Run queues the invitation; the server's mail worker sends it (see --smtp-url).
func (c *usersInviteCmd) Run(ctx context.Context, g *Globals) error {
	if (c.Email == "") == !c.AllPending {
		return errors.New("give a user's email, or --all-pending, not both")
	}
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	if c.AllPending {
		queued, noAddr, err := d.InviteAllPending(ctx, actor())
		if err != nil {
			return err
		}
		fmt.Printf("%d invitations queued.\n", queued)
		if noAddr > 0 {
			fmt.Fprintf(os.Stderr, "%d pending users have no email address: issue them a code with `scimdesk users setup-code`.\n", noAddr)
		}
		if queued > 0 {
			sayWhoSends(ctx, d)
		}
		return nil
	}
	u, err := d.UserByEmail(ctx, c.Email)
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("no user has the userName or email %q (see scimdesk users list)", c.Email)
	}
	if err != nil {
		return err
	}
	queued, err := d.InviteUser(ctx, u.ID, actor())
	if err != nil {
		return err
	}
	who := termsafe.Clean(u.UserName)
	if !queued {
		inv, _ := d.LatestInvite(ctx, u.ID)
		fmt.Printf("An invitation for %s is already on its way (%s, %d attempts so far); nothing new queued.\n", who, inv.State(), inv.Attempts)
		return nil
	}
	addr, _ := db.InviteAddress(u)
	fmt.Printf("Invitation for %s queued, to %s; it carries a new setup code, which voids any earlier one.\n", who, termsafe.Clean(addr))
	sayWhoSends(ctx, d)
	return nil
}

// sayWhoSends tells the admin when queued invitations go out.
func sayWhoSends(ctx context.Context, d *db.DB) {
	if h, ok := liveServer(ctx, d); ok {
		fmt.Fprintf(os.Stderr, "The running scimdesk (pid %d) sends it if it was started with --smtp-url; the console's Users tab shows its delivery.\n", h.PID)
		return
	}
	fmt.Fprintln(os.Stderr, "No server runs on this database now: the invitation is queued and goes out when `scimdesk serve` runs with --smtp-url and --smtp-from.")
}

type usersOnboardingCmd struct{}

// Run lists the pending users with the code and the invitation each has out.
func (c *usersOnboardingCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	where, err := db.UserQuery{Status: db.StatusPending}.Where()
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tSETUP CODE\tINVITATION\tATTEMPTS\tLAST ERROR")
	err = eachUser(ctx, d, where, func(u db.User) error {
		code, inv, attempts, lastErr := "none", "none", "", ""
		if sc, err := d.SetupCodeOf(ctx, u.ID); err == nil && sc.Purpose == db.PurposeSetup {
			switch {
			case !sc.Used.IsZero():
				code = "used"
			case sc.Usable(now):
				code = "live until " + sc.Expires.Local().Format("2006-01-02 15:04")
			default:
				code = "expired"
			}
		} else if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		if i, err := d.LatestInvite(ctx, u.ID); err == nil {
			inv, attempts, lastErr = i.State(), strconv.Itoa(i.Attempts), i.LastError
			switch i.State() {
			case "sent":
				inv += " " + i.Sent.Local().Format("2006-01-02 15:04")
			case "queued", "retrying":
				inv += " to " + i.Address
			}
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clip(u.UserName), code, clip(inv), attempts, clip(lastErr))
		return err
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}
