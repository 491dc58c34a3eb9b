package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kong"

	"scimdesk/db"
	"scimdesk/setupapi"
	"scimdesk/termsafe"
)

type usersCmd struct {
	List         usersListCmd       `cmd:"" help:"List users, one a line, with their status."`
	SetupCode    usersCodeCmd       `cmd:"" name:"setup-code" help:"Issue a setup code for a pending user: printed once, alone on the first line, then the command to hand over."`
	RecoveryCode usersCodeCmd       `cmd:"" name:"recovery-code" help:"Issue a recovery code for a ready user who forgot their passphrase."`
	Invite       usersInviteCmd     `cmd:"" help:"Email a pending user (or --all-pending) a setup code: queued now, sent by the server running with --smtp-url."`
	Onboarding   usersOnboardingCmd `cmd:"" help:"List the pending users with the setup code and the emailed invitation each has out (state, attempts, last delivery error)."`
}

type usersListCmd struct {
	Status string `help:"Only users in this state: pending, ready or deactivated." enum:",pending,ready,deactivated" default:""`
	Search string `help:"Only users whose userName, email or name contains this."`
}

func (c *usersListCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	where, err := db.UserQuery{Status: c.Status, Search: c.Search}.Where()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tUSERNAME\tEMAIL\tNAME\tID\tCREATED")
	err = eachUser(ctx, d, where, func(u db.User) error {
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Status(), clip(u.UserName), clip(u.Email), clip(u.ShownName()), clip(u.ID), day(u.Created))
		return err
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

// eachUser calls fn for every user where matches, reading them a page at a time, so that a
// listing of 100,000 users holds one page in memory.
func eachUser(ctx context.Context, d *db.DB, where db.Where, fn func(db.User) error) error {
	const batch = 1000
	for off := 0; ; off += batch {
		users, _, err := d.ListUsers(ctx, where, db.Page{Offset: off, Limit: batch})
		if err != nil {
			return err
		}
		for _, u := range users {
			if err := fn(u); err != nil {
				return err
			}
		}
		if len(users) < batch {
			return nil
		}
	}
}

type usersCodeCmd struct {
	Email     string `arg:"" help:"The user's userName or email."`
	PublicURL string `help:"The server's URL as users reach it (default: the running server's own URL)." env:"SCIMDESK_PUBLIC_URL" placeholder:"URL"`
}

// Run issues the code. Scripts read the code from line 1 of stdout and the command from
// line 2; the explanation goes to stderr.
func (c *usersCodeCmd) Run(ctx context.Context, g *Globals, k *kong.Context) error {
	purpose, command, what := db.PurposeSetup, "setup", "Setup code"
	if k.Selected().Name == "recovery-code" {
		purpose, command, what = db.PurposeRecover, "recover", "Recovery code"
	}
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := d.UserByEmail(ctx, c.Email)
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("no user has the userName or email %q (see scimdesk users list)", c.Email)
	}
	if err != nil {
		return err
	}
	code, secret, err := d.IssueSetupCode(ctx, u.ID, purpose, actor())
	if err != nil {
		return err
	}
	// The URL users reach: what the admin says, else what the running server calls itself.
	server, guessed := setupapi.DefaultServer, true
	if c.PublicURL != "" {
		server, guessed = strings.TrimRight(c.PublicURL, "/"), false
	} else if h, ok := liveServer(ctx, d); ok {
		server, guessed = h.PublicURL, false
	}
	handover := "scimdesk " + command + " --server " + server
	if shellSafe.MatchString(u.UserName) {
		handover += " --email " + u.UserName
	}
	who := termsafe.Clean(u.UserName)
	fmt.Println(secret)
	fmt.Println(termsafe.Clean(handover))
	fmt.Fprintf(os.Stderr, "%s for %s, valid until %s, single use; any earlier code is void.\n"+
		"Shown only now: hand %s the code and the command above.\n",
		what, who, code.Expires.Local().Format("2006-01-02 15:04"), who)
	if guessed {
		fmt.Fprintf(os.Stderr, "No server runs on this database right now, so the URL is the default: pass --public-url if users reach the server elsewhere.\n")
	}
	return nil
}

// shellSafe matches what can go into a command line unquoted.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9@._+-]+$`)
