package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"scimdesk/db"
	"scimdesk/termsafe"
)

type tokenCmd struct {
	Create tokenCreateCmd `cmd:"" help:"Create a token; its secret is printed once, alone on the first line."`
	List   tokenListCmd   `cmd:"" help:"List tokens."`
	Revoke tokenRevokeCmd `cmd:"" help:"Revoke a token at once."`
}

type tokenCreateCmd struct {
	Description string `help:"What the token is for, e.g. okta." required:""`
	TTL         string `name:"ttl" help:"Lifetime in days (e.g. 90d) or never." default:"90d"`
}

// parseTTL reads a lifetime: a number of days ("90d") or "never" (0).
func parseTTL(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "never" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
	if err != nil || !strings.HasSuffix(s, "d") || n < 1 || n > 3650 {
		return 0, fmt.Errorf("--ttl %q: give a number of days from 1d to 3650d, or never", s)
	}
	return time.Duration(n) * 24 * time.Hour, nil
}

func (c *tokenCreateCmd) Run(ctx context.Context, g *Globals) error {
	ttl, err := parseTTL(c.TTL)
	if err != nil {
		return err
	}
	if strings.TrimSpace(c.Description) == "" {
		return errors.New("--description must not be empty")
	}
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	t, secret, err := d.CreateToken(ctx, strings.TrimSpace(c.Description), ttl, actor())
	if err != nil {
		return err
	}
	fmt.Println(secret)
	exp := "never expires"
	if !t.Expires.IsZero() {
		exp = "expires " + t.Expires.Local().Format("2006-01-02 15:04")
	}
	fmt.Fprintf(os.Stderr, "Created token %s (%s), %s. The secret above is shown only now: paste it into your identity provider.\n", t.ID, termsafe.Clean(t.Description), exp)
	return nil
}

type tokenListCmd struct{}

func (c *tokenListCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	tokens, err := d.Tokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDESCRIPTION\tHINT\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
	now := time.Now()
	for _, t := range tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, termsafe.Clean(t.Description), termsafe.Clean(t.Hint), day(t.Created), orNever(t.Expires),
			termsafe.Clean(lastUse(t)), t.Status(now))
	}
	return tw.Flush()
}

func lastUse(t db.Token) string {
	if t.LastUsed.IsZero() {
		return "never"
	}
	return t.LastUsed.Local().Format("2006-01-02 15:04") + " from " + t.LastUsedAddr
}

type tokenRevokeCmd struct {
	ID string `arg:"" help:"The token's id (see token list)."`
}

func (c *tokenRevokeCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	tokens, err := d.Tokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if t.ID == c.ID && !t.Revoked.IsZero() {
			fmt.Printf("Token %s was already revoked on %s.\n", termsafe.Clean(c.ID), t.Revoked.Local().Format("2006-01-02 15:04"))
			return nil
		}
	}
	if err := d.RevokeToken(ctx, c.ID, actor()); err != nil {
		return err
	}
	fmt.Printf("Revoked token %s: the next request that presents it is refused.\n", termsafe.Clean(c.ID))
	return nil
}
