package cli

import (
	"github.com/alecthomas/kong"
)

// Options are how main builds the command line: the name, the description, the help and
// its printer. Tests parse with the same options.
func Options() []kong.Option {
	return []kong.Option{
		kong.Name("scimdesk"),
		kong.Description("Self-hosted SCIM provisioning console: Okta and Microsoft Entra ID provision users and groups into a SQLite file (or a PostgreSQL database: --db postgres://…)."),
		kong.UsageOnError(),
		kong.Vars{"version": Version()},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Help(helpPrinter),
	}
}

// userCommands are the commands end users run on their own machines, against the server
// over HTTP: they open no database, so their help does not offer --db (an admin's flag
// that would only puzzle them). The flag is still accepted, for scripts written before.
var userCommands = map[string]bool{"setup": true, "recover": true}

// helpPrinter is kong's help, without the admin's flags on the users' commands.
func helpPrinter(options kong.HelpOptions, ctx *kong.Context) error {
	if sel := ctx.Selected(); sel != nil && userCommands[sel.Name] {
		for _, f := range ctx.Model.Flags {
			if f.Name == "db" && !f.Hidden {
				f.Hidden = true
				defer func() { f.Hidden = false }()
			}
		}
	}
	return kong.DefaultHelpPrinter(options, ctx)
}
