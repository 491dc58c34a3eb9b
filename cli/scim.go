package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"scimdesk/db"
	"scimdesk/publicurl"
	"scimdesk/termsafe"
)

type scimCmd struct {
	Enable  scimSwitchCmd `cmd:"" help:"Switch SCIM provisioning on."`
	Disable scimSwitchCmd `cmd:"" help:"Switch SCIM provisioning off (requests get 403; tokens stay)."`
	Status  scimStatusCmd `cmd:"" help:"Show whether SCIM is on, the SCIM URL, and token and user counts."`
}

type scimSwitchCmd struct{}

func (c *scimSwitchCmd) Run(ctx context.Context, g *Globals, k *kong.Context) error {
	on := k.Selected().Name == "enable"
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.SetSCIMEnabled(ctx, on, actor()); err != nil {
		return err
	}
	fmt.Println(map[bool]string{true: "SCIM provisioning is enabled.", false: "SCIM provisioning is disabled: SCIM requests now get 403."}[on])
	return nil
}

type scimStatusCmd struct {
	PublicURL string `help:"Base URL to show, if the server is not running." env:"SCIMDESK_PUBLIC_URL" placeholder:"URL"`
}

func (c *scimStatusCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	on, err := d.SCIMEnabled(ctx)
	if err != nil {
		return err
	}
	tokens, err := d.Tokens(ctx)
	if err != nil {
		return err
	}
	counts, err := d.CountUsersByStatus(ctx)
	if err != nil {
		return err
	}
	active := 0
	now := time.Now()
	for _, t := range tokens {
		if s := t.Status(now); s == db.TokenActive || s == db.TokenExpiring {
			active++
		}
	}
	state := "disabled"
	if on {
		state = "enabled"
	}
	fmt.Printf("SCIM:     %s\n", state)
	beats, _ := d.ReadHeartbeats(ctx) // none read: no server known to serve
	if h, ok := db.Serving(beats, now); ok {
		fmt.Printf("SCIM URL: %s/scim/v2\n", termsafe.Clean(h.PublicURL))
		// Every live instance (several on PostgreSQL), the one found first at its head.
		label := "Server:  "
		if len(beats) > 1 {
			label = "Servers: "
		}
		for _, b := range beats {
			if !b.Live(now) {
				continue
			}
			fmt.Printf("%s pid %d on %s %s, %d requests served\n", label, b.PID, termsafe.Clean(b.Host), termsafe.Clean(b.Addr), b.Requests)
			label = "         "
		}
		if caveat := publicurl.Caveat(h.PublicURL, h.Addr); caveat != "" {
			fmt.Printf("Warning:  %s\n", termsafe.Clean(caveat))
		}
	} else if c.PublicURL != "" {
		fmt.Printf("SCIM URL: %s/scim/v2\nServer:   not running\n", termsafe.Clean(strings.TrimRight(c.PublicURL, "/")))
	} else {
		// Not a guessed default: a URL printed here gets pasted into the identity provider.
		fmt.Printf("SCIM URL: unknown while no server runs for this database (--public-url shows yours here)\nServer:   not running\n")
	}
	fmt.Printf("Tokens:   %d usable, %d in all\n", active, len(tokens))
	for _, t := range db.ExpiringTokens(tokens, now) {
		fmt.Printf("          ▲ %s\n", expiringLine(t, now))
	}
	fmt.Printf("Users:    %d (%d pending, %d ready, %d deactivated)\n", counts.Total(), counts.Pending, counts.Ready, counts.Deactivated)
	return nil
}

// expiringLine warns about a token that expires soon, and says what to do.
func expiringLine(t db.Token, now time.Time) string {
	left := "in " + strconv.Itoa(t.DaysLeft(now)) + " days"
	if d := t.Expires.Sub(now); d < 24*time.Hour {
		left = "in " + strconv.Itoa(int(d.Hours())+1) + " h"
	}
	return fmt.Sprintf("token %s (%s) expires %s, %s: `scimdesk token rotate %s`", t.ID, clip(t.Description), left,
		t.Expires.Local().Format("2006-01-02 15:04"), t.ID)
}
