package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/charmbracelet/x/term"

	"scimdesk/db"
	"scimdesk/termsafe"
	"scimdesk/tui"
)

// keyFlags are what setup and recover share: where the server is and who is asking.
type keyFlags struct {
	Server         string `help:"Your scimdesk server's URL, from your admin (default: the local server, http://127.0.0.1:8080)." default:"http://127.0.0.1:8080" env:"SCIMDESK_SERVER" placeholder:"URL"`
	CAFile         string `name:"ca-file" help:"PEM certificate of the CA that signed the server's certificate, for a private CA." type:"existingfile" placeholder:"FILE"`
	Email          string `help:"Your email or user name." placeholder:"EMAIL"`
	Code           string `help:"The code from your admin (without --email and --code, you sign in with your company account if the server offers it)." placeholder:"CODE"`
	PassphraseFile string `help:"Read the (new) passphrase from this file, - for stdin; one trailing newline is dropped." placeholder:"FILE"`
}

// interactive reports whether to run the full-screen flow: on a terminal, unless a flag
// that only scripts need is given. --email and --code just fill in the form.
func (f *keyFlags) interactive(scripted ...string) bool {
	if f.PassphraseFile != "" {
		return false
	}
	for _, s := range scripted {
		if s != "" {
			return false
		}
	}
	return term.IsTerminal(os.Stdin.Fd()) && term.IsTerminal(os.Stdout.Fd())
}

type setupCmd struct {
	keyFlags
	RecoveryFile string `help:"Write the recovery key to this new file, mode 0600 (- for stdout), and ask no questions (for scripts)." placeholder:"FILE"`
}

func (c *setupCmd) Run(ctx context.Context) error {
	return runKeyFlow(ctx, db.PurposeSetup, &c.keyFlags, c.RecoveryFile, "")
}

type recoverCmd struct {
	keyFlags
	RecoveryKeyFile string `help:"Read the recovery key from this file (line 1, as setup saved it; - for stdin), and ask no questions (for scripts)." placeholder:"FILE"`
}

func (c *recoverCmd) Run(ctx context.Context) error {
	return runKeyFlow(ctx, db.PurposeRecover, &c.keyFlags, "", c.RecoveryKeyFile)
}

func runKeyFlow(ctx context.Context, purpose string, f *keyFlags, recoveryFile, recoveryKeyFile string) error {
	if !f.interactive(recoveryFile, recoveryKeyFile) {
		return tui.RunSetupScript(ctx, tui.ScriptOptions{Purpose: purpose, Server: f.Server, CAFile: f.CAFile,
			Email: f.Email, Code: f.Code, PassphraseFile: f.PassphraseFile,
			RecoveryFile: recoveryFile, RecoveryKeyFile: recoveryKeyFile})
	}
	res, err := tui.RunSetup(ctx, tui.SetupOptions{Purpose: purpose, Server: f.Server, CAFile: f.CAFile, Email: f.Email, Code: f.Code})
	if err != nil {
		return err
	}
	switch {
	case res.Interrupted:
		return errors.New("stopped while your key was being stored, so it may have reached the server: run the command again; if it says the code is already used, you are ready")
	case !res.Done:
		return errors.New("not finished: nothing was stored on the server; run the command again to carry on")
	}
	// The userName comes from the server, which may not be the one the user thinks.
	name := termsafe.Clean(res.UserName)
	if purpose == db.PurposeRecover {
		fmt.Printf("%s is ready again: your new passphrase unlocks your key.\n", name)
		return nil
	}
	fmt.Printf("%s is ready: your master key is stored on %s, locked with your passphrase.\n", name, termsafe.Clean(res.Server))
	if res.RecoveryFile != "" {
		fmt.Printf("Your recovery key is in %s (mode 0600): keep a copy offline.\n", termsafe.Clean(res.RecoveryFile))
	}
	return nil
}
