// Command scimdesk is a self-hosted SCIM provisioning console: a terminal UI with an
// embedded SCIM 2.0 server over a SQLite file, plus the same actions as scriptable commands.
// The commands live in package cli; main only wires kong to them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"scimdesk/cli"
	"scimdesk/termsafe"
)

func main() {
	var c cli.CLI
	k := kong.Parse(&c, cli.Options()...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k.BindTo(ctx, (*context.Context)(nil))
	k.Bind(&c.Globals)
	if err := k.Run(); err != nil {
		// Errors can quote what a server or an identity provider sent.
		fmt.Fprintln(os.Stderr, "scimdesk:", termsafe.Lines(err.Error()))
		os.Exit(1)
	}
}
