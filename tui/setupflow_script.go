package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	xterm "github.com/charmbracelet/x/term"

	"scimdesk/db"
	"scimdesk/keys"
	"scimdesk/setupapi"
	"scimdesk/termsafe"
)

// The same setup and recovery without a screen, for scripts and tests: every answer comes
// from a flag, a file or stdin, and errors are the same sentences the flow shows.

// ScriptOptions configure RunSetupScript.
type ScriptOptions struct {
	Purpose         string // db.PurposeSetup or db.PurposeRecover
	Server, CAFile  string
	Email, Code     string
	PassphraseFile  string // "-": stdin; "": stdin, prompting without echo on a terminal
	RecoveryFile    string // setup: the new file the recovery key goes to ("-": stdout)
	RecoveryKeyFile string // recover: where the recovery key is read from ("-": stdin)
	Params          keys.Params
	Stdin           io.Reader
	Stdout, Stderr  io.Writer
}

// RunSetupScript sets up (or recovers) a key without a screen. On success the user is
// ready and a sentence saying so is on Stderr.
func RunSetupScript(ctx context.Context, o ScriptOptions) error {
	if o.Purpose == "" {
		o.Purpose = db.PurposeSetup
	}
	if o.Params == (keys.Params{}) {
		o.Params = keys.DefaultParams()
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	recovering := o.Purpose == db.PurposeRecover
	// With neither email nor code, the user signs in with the identity provider, if the
	// server offers that; otherwise the errors below say what is missing.
	signIn := strings.TrimSpace(o.Email) == "" && strings.TrimSpace(o.Code) == ""
	switch {
	case signIn:
	case strings.TrimSpace(o.Email) == "":
		return errors.New("--email is required when no questions are asked (run it in a terminal for the interactive flow)")
	case strings.TrimSpace(o.Code) == "":
		return errors.New("--code is required when no questions are asked: the code from your admin")
	case !recovering && o.RecoveryFile == "":
		return errors.New("--recovery-file is required when no questions are asked: the recovery key is shown only once, so it must go somewhere (- for stdout)")
	case recovering && o.RecoveryKeyFile == "":
		return errors.New("--recovery-key-file is required when no questions are asked (- for stdin)")
	case o.PassphraseFile == "-" && o.RecoveryKeyFile == "-":
		return errors.New("only one of --passphrase-file and --recovery-key-file can be - (stdin)")
	}
	if _, err := db.NormalizeSetupCode(o.Code); err != nil && !signIn {
		return errors.New("--code: " + codeProblem(err))
	}
	// Refuse an existing recovery file now, before anything is asked of the server.
	if !recovering && o.RecoveryFile != "-" {
		if _, err := os.Lstat(o.RecoveryFile); err == nil {
			return fmt.Errorf("--recovery-file %s already exists: choose a new file (nothing is overwritten)", o.RecoveryFile)
		}
	}
	var rk keys.RecoveryKey
	if recovering {
		text, err := readSecret(o.RecoveryKeyFile, o.Stdin)
		if err != nil {
			return fmt.Errorf("--recovery-key-file: %w", err)
		}
		first, _, _ := strings.Cut(string(text), "\n") // a file saved by setup: the key is line 1
		clear(text)
		if rk, err = keys.ParseRecoveryKey(first); err != nil {
			return errors.New(lowerFirst(sfRecoveryKeyProblem(err)))
		}
		defer rk.Wipe()
	}
	pass, err := o.passphrase()
	if err != nil {
		return err
	}
	defer clear(pass)
	if _, err := keys.CheckPassphrase(string(pass)); err != nil {
		return errors.New(lowerFirst(sfPassphraseProblem(err)))
	}

	client, err := setupapi.NewClient(o.Server, o.CAFile)
	if err != nil {
		return err
	}
	if signIn {
		if o.Email, o.Code, err = scriptSignIn(ctx, client, o.Purpose, o.Stderr); err != nil {
			return err
		}
	}
	info, err := client.Begin(ctx, o.Email, o.Code, o.Purpose)
	if err != nil {
		return err
	}
	params := setupapi.KDFParams(o.Params, info.MinKDF)
	var b keys.Bundle
	saved := ""
	if recovering {
		if b, err = setupapi.RecoverBundle(info.UserID, *info.Key, rk, pass, params); err != nil {
			if errors.Is(err, keys.ErrWrongKey) {
				return errors.New("that recovery key does not open your key: check it against the one you saved")
			}
			return err
		}
	} else {
		var newRK keys.RecoveryKey
		if b, newRK, err = keys.NewBundle(info.UserID, pass, params); err != nil {
			return err
		}
		text := newRK.Text()
		newRK.Wipe()
		// The recovery key is kept before the key is stored: a user must never be ready
		// with a recovery key that went nowhere.
		if o.RecoveryFile == "-" {
			fmt.Fprintln(o.Stdout, text)
		} else {
			if err := WriteRecoveryFile(o.RecoveryFile, text, info.UserName, info.UserID, client.BaseURL()); err != nil {
				return err
			}
			saved = o.RecoveryFile
		}
	}
	resp, err := client.Complete(ctx, setupapi.CompleteRequest{Email: o.Email, Code: o.Code, Purpose: o.Purpose, UserID: info.UserID, Bundle: b})
	if err != nil {
		if saved != "" {
			os.Remove(saved) // it holds the key of a bundle that was never stored
		} else if !recovering {
			fmt.Fprintln(o.Stderr, "The recovery key printed above is void: nothing was stored.")
		}
		return err
	}
	if recovering {
		fmt.Fprintf(o.Stderr, "%s is ready again: the new passphrase unlocks your key; the recovery key stays the same.\n", clean(resp.UserName))
		return nil
	}
	where := "on stdout"
	if saved != "" {
		where = "in " + saved + " (mode 0600)"
	}
	fmt.Fprintf(o.Stderr, "%s is ready: the key is stored on %s, locked with your passphrase. Recovery key %s: keep it offline.\n",
		clean(resp.UserName), clean(client.BaseURL()), where)
	return nil
}

// passphrase reads the passphrase from the file, from stdin, or from the terminal twice
// without echo.
func (o ScriptOptions) passphrase() ([]byte, error) {
	if o.PassphraseFile == "" {
		if f, ok := o.Stdin.(*os.File); ok && xterm.IsTerminal(f.Fd()) {
			return promptPassphrase(f, o.Stderr)
		}
	}
	p, err := readSecret(o.PassphraseFile, o.Stdin)
	if err != nil {
		return nil, fmt.Errorf("--passphrase-file: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("the passphrase is empty")
	}
	return p, nil
}

func promptPassphrase(tty *os.File, out io.Writer) ([]byte, error) {
	fmt.Fprint(out, "Passphrase: ")
	p, err := xterm.ReadPassword(tty.Fd())
	fmt.Fprintln(out)
	if err != nil {
		return nil, err
	}
	fmt.Fprint(out, "Again: ")
	again, err := xterm.ReadPassword(tty.Fd())
	fmt.Fprintln(out)
	defer clear(again)
	if err != nil {
		clear(p)
		return nil, err
	}
	if !bytes.Equal(p, again) {
		clear(p)
		return nil, errors.New("the two passphrases differ")
	}
	return p, nil
}

// readSecret reads a file ("-" or "": stdin) and drops one trailing newline, the one an
// editor or `echo` adds; everything else is the secret, as typed.
func readSecret(path string, stdin io.Reader) ([]byte, error) {
	var b []byte
	var err error
	if path == "" || path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b, nil
}

// lowerFirst makes a screen sentence fit after "scimdesk: " on stderr.
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// scriptSignIn runs the device flow, telling the user on w where to sign in, and returns
// the login and code the server gave for the ID token.
func scriptSignIn(ctx context.Context, client *setupapi.Client, purpose string, w io.Writer) (string, string, error) {
	cfg, err := client.Config(ctx)
	if err != nil {
		return "", "", err
	}
	if cfg.SignIn == nil {
		return "", "", errors.New("--email and --code are required: this server offers no sign-in with an identity provider, so you need the code from your admin")
	}
	flow, err := setupapi.DiscoverDeviceFlow(ctx, nil, cfg.SignIn.Issuer, cfg.SignIn.ClientID)
	if err != nil {
		return "", "", err
	}
	da, err := flow.Start(ctx)
	if err != nil {
		return "", "", err
	}
	fmt.Fprintf(w, "Sign in with your company account: open %s and enter %s\n", termsafe.Clean(da.VerificationURI), termsafe.Clean(da.UserCode))
	if da.VerificationURIComplete != "" && da.VerificationURIComplete != da.VerificationURI {
		fmt.Fprintf(w, "(or open %s)\n", termsafe.Clean(da.VerificationURIComplete))
	}
	fmt.Fprintln(w, "Waiting for you to sign in…")
	idToken, err := flow.Wait(ctx, da)
	if err != nil {
		return "", "", err
	}
	resp, err := client.SignIn(ctx, idToken, purpose)
	if err != nil {
		return "", "", err
	}
	return resp.Email, resp.Code, nil
}
