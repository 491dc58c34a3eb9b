package cli

import (
	"context"
	"fmt"

	"scimdesk/db"
	"scimdesk/termsafe"
)

type oidcCmd struct {
	Set   oidcSetCmd   `cmd:"" help:"Let pending users finish setup by signing in with your identity provider (an OpenID Connect native app with the device grant)."`
	Show  oidcShowCmd  `cmd:"" help:"Show the identity provider pending users sign in with."`
	Clear oidcClearCmd `cmd:"" help:"Stop sign-in with the identity provider: setup codes only."`
}

type oidcSetCmd struct {
	Issuer   string `required:"" help:"The issuer URL, exactly as the provider names it (https; plain http only on loopback)." placeholder:"URL"`
	ClientID string `required:"" name:"client-id" help:"The OpenID Connect app's client id." placeholder:"ID"`
}

func (c *oidcSetCmd) Run(ctx context.Context, g *Globals) error {
	cfg := db.OIDCConfig{Issuer: c.Issuer, ClientID: c.ClientID}
	if err := db.CheckOIDCConfig(cfg); err != nil {
		return err
	}
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.SetOIDCConfig(ctx, cfg, actor()); err != nil {
		return err
	}
	fmt.Printf("Pending users can now sign in with %s (client id %s) when they run `scimdesk setup --server URL`.\n",
		termsafe.Clean(cfg.Issuer), termsafe.Clean(cfg.ClientID))
	return nil
}

type oidcShowCmd struct{}

func (c *oidcShowCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	cfg, err := d.OIDCConfig(ctx)
	if err != nil {
		return err
	}
	fmt.Println(oidcLine(cfg))
	return nil
}

type oidcClearCmd struct{}

func (c *oidcClearCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.ClearOIDCConfig(ctx, actor()); err != nil {
		return err
	}
	fmt.Println("Sign-in with the identity provider is off: pending users need a setup code.")
	return nil
}

// oidcLine is the one line that says how pending users sign in, for `oidc show`.
func oidcLine(c db.OIDCConfig) string {
	if !c.Configured() {
		return "Sign-in: not set up; pending users need a setup code (scimdesk oidc set --issuer URL --client-id ID)"
	}
	return fmt.Sprintf("Sign-in: %s, client id %s", termsafe.Clean(c.Issuer), termsafe.Clean(c.ClientID))
}
