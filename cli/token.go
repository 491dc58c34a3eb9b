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
	List   tokenListCmd   `cmd:"" help:"List tokens (revoked or expired more than 7 days ago only with --all)."`
	Revoke tokenRevokeCmd `cmd:"" help:"Revoke a token at once."`
	Rotate tokenRotateCmd `cmd:"" help:"Replace a token with a new one; the new secret is printed once, alone on the first line, and the old token keeps working for --overlap."`
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

type tokenListCmd struct {
	All bool `help:"Also list tokens revoked or expired more than 7 days ago (hidden by default)."`
}

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
	now := time.Now()
	shown := tokens
	if !c.All {
		shown = db.Visible(tokens, now)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDESCRIPTION\tHINT\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
	for _, t := range shown {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, termsafe.Clean(t.Description), termsafe.Clean(t.Hint), day(t.Created), orNever(t.Expires),
			termsafe.Clean(lastUse(t)), tokenState(t, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// On stderr, so that scripts reading the table see only rows.
	if hidden := len(tokens) - len(shown); hidden > 0 {
		fmt.Fprintf(os.Stderr, "%d more revoked or expired more than 7 days ago: --all lists them.\n", hidden)
	}
	return nil
}

// tokenState is a token's status for the list; a rotated token names its replacement,
// during the overlap and after it.
func tokenState(t db.Token, now time.Time) string {
	s := t.Status(now)
	if t.ReplacedBy != "" && s != db.TokenRevoked {
		return s + " → " + t.ReplacedBy
	}
	return s
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

type tokenRotateCmd struct {
	ID      string `arg:"" help:"The token's id (see token list)."`
	Overlap string `help:"How long the old token keeps working beside the new one, e.g. 24h, 90m, 3d, or 0 to stop it at once (at most 30d; never past its own expiry)." default:"24h"`
}

// parseOverlap reads a rotation overlap: a Go duration (24h, 90m, 0) or a number of days
// (3d).
func parseOverlap(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok && !strings.ContainsAny(n, "hms.") {
		var days int
		days, err = strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
		if days > 3650 {
			d = db.MaxRotateOverlap + 1 // refused below, without overflowing
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("--overlap %q: give a duration such as 24h, 90m or 3d, or 0", s)
	case d < 0:
		return 0, fmt.Errorf("--overlap %q: must not be negative (0 stops the old token at once)", s)
	case d > db.MaxRotateOverlap:
		return 0, fmt.Errorf("--overlap %q: at most %dd; the old token should stop once the identity provider has the new one", s, db.MaxRotateOverlap/(24*time.Hour))
	}
	return d, nil
}

func (c *tokenRotateCmd) Run(ctx context.Context, g *Globals) error {
	overlap, err := parseOverlap(c.Overlap)
	if err != nil {
		return err
	}
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	r, secret, err := d.RotateToken(ctx, c.ID, overlap, actor())
	if err != nil {
		return err
	}
	fmt.Println(secret)
	const when = "2006-01-02 15:04"
	exp := "never expires"
	if !r.New.Expires.IsZero() {
		exp = "expires " + r.New.Expires.Local().Format(when)
	}
	old := "stopped working at once"
	switch {
	case r.Capped:
		old = "keeps working until its own expiry, " + r.Old.Expires.Local().Format(when) + ", then stops"
	case overlap > 0:
		old = "keeps working until " + r.Old.Expires.Local().Format(when) + " (" + c.Overlap + " overlap), then stops"
	}
	fmt.Fprintf(os.Stderr, "Rotated token %s (%s): the new token is %s, %s. The old one %s.\n"+
		"The secret above is shown only now: paste it into your identity provider.\n",
		r.Old.ID, termsafe.Clean(r.New.Description), r.New.ID, exp, old)
	return nil
}
