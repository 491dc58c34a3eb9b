// Command scimdesk is a self-hosted SCIM provisioning console: a terminal UI with an
// embedded SCIM 2.0 server over a SQLite file, plus the same actions as scriptable commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/alecthomas/kong"
	"github.com/charmbracelet/x/term"

	"scimdesk/db"
	"scimdesk/scimserver"
	"scimdesk/tui"
)

// globals are the flags every command shares.
type globals struct {
	DB string `help:"Database file (default: scimdesk.db under your data directory)." env:"SCIMDESK_DB" placeholder:"PATH"`
}

// serverFlags configure the SCIM server (console and serve).
type serverFlags struct {
	Addr      string `help:"Address the SCIM server listens on." default:"127.0.0.1:8080" env:"SCIMDESK_ADDR"`
	PublicURL string `help:"Base URL clients reach the server at (behind a reverse proxy), e.g. https://scim.example.com." env:"SCIMDESK_PUBLIC_URL" placeholder:"URL"`
	TLSCert   string `help:"PEM certificate file: serve HTTPS directly (Okta requires HTTPS)." type:"existingfile" placeholder:"FILE"`
	TLSKey    string `help:"PEM private key file for --tls-cert." type:"existingfile" placeholder:"FILE"`
	LogFile   string `help:"Server log file (default: scimdesk.log beside the database; serve logs to stderr)." placeholder:"PATH"`
}

type cli struct {
	globals
	Version kong.VersionFlag `help:"Print the version and exit."`

	Console consoleCmd `cmd:"" default:"withargs" help:"Open the console and run the SCIM server (the default)."`
	Serve   serveCmd   `cmd:"" help:"Run the SCIM server without a terminal (systemd, containers)."`
	Token   tokenCmd   `cmd:"" help:"Create, list and revoke SCIM tokens."`
	SCIM    scimCmd    `cmd:"" name:"scim" help:"Switch SCIM provisioning on or off, or show its status."`
	Users   usersCmd   `cmd:"" help:"List provisioned users; issue setup and recovery codes."`
	Setup   setupCmd   `cmd:"" help:"Finish your account: create your master key with the setup code from your admin."`
	Recover recoverCmd `cmd:"" help:"Forgot your passphrase? Choose a new one with your recovery key and a recovery code."`
}

func main() {
	var c cli
	k := kong.Parse(&c,
		kong.Name("scimdesk"),
		kong.Description("Self-hosted SCIM provisioning console: Okta and Microsoft Entra ID provision users and groups into a SQLite file."),
		kong.UsageOnError(),
		kong.Vars{"version": version()},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k.BindTo(ctx, (*context.Context)(nil))
	k.Bind(&c.globals)
	if err := k.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "scimdesk:", err)
		os.Exit(1)
	}
}

// open opens the database the flags name.
func (g *globals) open(ctx context.Context) (*db.DB, error) {
	path := g.DB
	if path == "" {
		var err error
		if path, err = db.DefaultPath(); err != nil {
			return nil, err
		}
	}
	d, err := db.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return d, nil
}

func (f *serverFlags) config(log *slog.Logger) (scimserver.Config, error) {
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return scimserver.Config{}, errors.New("--tls-cert and --tls-key go together")
	}
	return scimserver.Config{Addr: f.Addr, PublicURL: strings.TrimRight(f.PublicURL, "/"), TLSCert: f.TLSCert, TLSKey: f.TLSKey, Logger: log}, nil
}

// liveServer returns the heartbeat of another process's server that serves this database
// right now, if there is one.
func liveServer(ctx context.Context, d *db.DB) (db.Heartbeat, bool) {
	h, err := d.ReadHeartbeat(ctx)
	if err != nil || h.PID == os.Getpid() || time.Since(h.Beat) > 10*time.Second {
		return h, false
	}
	if p, err := os.FindProcess(h.PID); err != nil || p.Signal(syscall.Signal(0)) != nil {
		return h, false
	}
	return h, true
}

type serveCmd struct {
	serverFlags
}

func (c *serveCmd) Run(ctx context.Context, g *globals) error {
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	if h, ok := liveServer(ctx, d); ok {
		return fmt.Errorf("another scimdesk (pid %d) already serves this database on %s", h.PID, h.Addr)
	}
	out := io.Writer(os.Stderr)
	if c.LogFile != "" {
		f, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		defer f.Close()
		out = f
	}
	log := slog.New(slog.NewTextHandler(out, nil))
	cfg, err := c.config(log)
	if err != nil {
		return err
	}
	srv := scimserver.New(d, cfg)
	if err := srv.Listen(); err != nil {
		return err
	}
	scimserver.TuneRuntime()
	on, _ := d.SCIMEnabled(ctx)
	log.Info("scimdesk serving", "scim_url", srv.SCIMURL(), "listen", srv.Addr(), "tls", srv.TLS(), "db", d.Path(), "scim_enabled", on)
	if !on {
		log.Warn("SCIM provisioning is disabled: requests get 403 until `scimdesk scim enable`")
	}
	err = srv.Serve(ctx)
	log.Info("scimdesk stopped", "err", err)
	return err
}

type consoleCmd struct {
	serverFlags
}

func (c *consoleCmd) Run(ctx context.Context, g *globals) error {
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	logPath := c.LogFile
	if logPath == "" {
		logPath = filepath.Join(filepath.Dir(d.Path()), "scimdesk.log")
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	defer f.Close()
	log := slog.New(slog.NewTextHandler(f, nil))
	cfg, err := c.config(log)
	if err != nil {
		return err
	}
	opts := tui.Options{DB: d, LogPath: logPath}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	if h, ok := liveServer(ctx, d); ok {
		opts.AttachedPID = h.PID
	} else {
		srv := scimserver.New(d, cfg)
		if err := srv.Listen(); err != nil {
			// The console still opens, so the admin can manage tokens and read the log,
			// and sees why the server is not running.
			opts.ServerErr = err
		} else {
			opts.Server = srv
			scimserver.TuneRuntime()
			go func() { served <- srv.Serve(ctx) }()
		}
	}
	err = tui.Run(ctx, opts)
	cancel()
	if opts.Server != nil {
		if serr := <-served; serr != nil && err == nil {
			err = serr
		}
	}
	return err
}

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

func (c *tokenCreateCmd) Run(ctx context.Context, g *globals) error {
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
	fmt.Fprintf(os.Stderr, "Created token %s (%s), %s. The secret above is shown only now: paste it into your identity provider.\n", t.ID, t.Description, exp)
	return nil
}

type tokenListCmd struct{}

func (c *tokenListCmd) Run(ctx context.Context, g *globals) error {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Description, t.Hint, day(t.Created), orNever(t.Expires),
			lastUse(t), t.Status(now))
	}
	return tw.Flush()
}

func day(t time.Time) string { return t.Local().Format("2006-01-02") }

func orNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return day(t)
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

func (c *tokenRevokeCmd) Run(ctx context.Context, g *globals) error {
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
			fmt.Printf("Token %s was already revoked on %s.\n", c.ID, t.Revoked.Local().Format("2006-01-02 15:04"))
			return nil
		}
	}
	if err := d.RevokeToken(ctx, c.ID, actor()); err != nil {
		return err
	}
	fmt.Printf("Revoked token %s: the next request that presents it is refused.\n", c.ID)
	return nil
}

type scimCmd struct {
	Enable  scimSwitchCmd `cmd:"" help:"Switch SCIM provisioning on."`
	Disable scimSwitchCmd `cmd:"" help:"Switch SCIM provisioning off (requests get 403; tokens stay)."`
	Status  scimStatusCmd `cmd:"" help:"Show whether SCIM is on, the SCIM URL, and token and user counts."`
}

type scimSwitchCmd struct{}

func (c *scimSwitchCmd) Run(ctx context.Context, g *globals, k *kong.Context) error {
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

func (c *scimStatusCmd) Run(ctx context.Context, g *globals) error {
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
	if h, ok := liveServer(ctx, d); ok {
		fmt.Printf("SCIM URL: %s/scim/v2\nServer:   pid %d on %s, %d requests served\n", h.PublicURL, h.PID, h.Addr, h.Requests)
	} else if c.PublicURL != "" {
		fmt.Printf("SCIM URL: %s/scim/v2\nServer:   not running\n", strings.TrimRight(c.PublicURL, "/"))
	} else {
		fmt.Printf("SCIM URL: http://127.0.0.1:8080/scim/v2 (default; no server is running)\nServer:   not running\n")
	}
	fmt.Printf("Tokens:   %d usable, %d in all\n", active, len(tokens))
	fmt.Printf("Users:    %d (%d pending, %d ready, %d deactivated)\n", counts.Total(), counts.Pending, counts.Ready, counts.Deactivated)
	return nil
}

type usersCmd struct {
	List         usersListCmd `cmd:"" help:"List users, one a line, with their status."`
	SetupCode    usersCodeCmd `cmd:"" name:"setup-code" help:"Issue a setup code for a pending user: printed once, alone on the first line, then the command to hand over."`
	RecoveryCode usersCodeCmd `cmd:"" name:"recovery-code" help:"Issue a recovery code for a ready user who forgot their passphrase."`
}

type usersListCmd struct {
	Status string `help:"Only users in this state: pending, ready or deactivated." enum:",pending,ready,deactivated" default:""`
	Search string `help:"Only users whose userName, email or name contains this."`
}

func (c *usersListCmd) Run(ctx context.Context, g *globals) error {
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
	const batch = 1000
	for off := 0; ; off += batch {
		users, _, err := d.ListUsers(ctx, where, db.Page{Offset: off, Limit: batch})
		if err != nil {
			return err
		}
		for _, u := range users {
			name := u.DisplayName
			if name == "" {
				name = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Status(), clip(u.UserName), clip(u.Email), clip(name), u.ID, day(u.Created))
		}
		if len(users) < batch {
			break
		}
	}
	return tw.Flush()
}

// actor names the admin in the audit log: the OS user running the command.
func actor() string {
	name := os.Getenv("USER")
	if name == "" {
		name = strconv.Itoa(os.Getuid())
	}
	return "admin:" + name
}

type usersCodeCmd struct {
	Email     string `arg:"" help:"The user's userName or email."`
	PublicURL string `help:"The server's URL as users reach it (default: the running server's own URL)." env:"SCIMDESK_PUBLIC_URL" placeholder:"URL"`
}

// Run issues the code. Scripts read the code from line 1 of stdout and the command from
// line 2; the explanation goes to stderr.
func (c *usersCodeCmd) Run(ctx context.Context, g *globals, k *kong.Context) error {
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
	server, guessed := scimserver.DefaultSetupServer, true
	if c.PublicURL != "" {
		server, guessed = strings.TrimRight(c.PublicURL, "/"), false
	} else if h, ok := liveServer(ctx, d); ok {
		server, guessed = h.PublicURL, false
	}
	handover := "scimdesk " + command + " --server " + server
	if shellSafe.MatchString(u.UserName) {
		handover += " --email " + u.UserName
	}
	fmt.Println(secret)
	fmt.Println(handover)
	fmt.Fprintf(os.Stderr, "%s for %s, valid until %s, %d attempts, single use; any earlier code is void.\n"+
		"Shown only now: hand %s the code and the command above.\n",
		what, u.UserName, code.Expires.Local().Format("2006-01-02 15:04"), code.AttemptsLeft, u.UserName)
	if guessed {
		fmt.Fprintf(os.Stderr, "No server runs on this database right now, so the URL is the default: pass --public-url if users reach the server elsewhere.\n")
	}
	return nil
}

// shellSafe matches what can go into a command line unquoted.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9@._+-]+$`)

// keyFlags are what setup and recover share: where the server is and who is asking.
type keyFlags struct {
	Server         string `help:"Your scimdesk server's URL, from your admin (default: the local server, http://127.0.0.1:8080)." default:"http://127.0.0.1:8080" env:"SCIMDESK_SERVER" placeholder:"URL"`
	CAFile         string `name:"ca-file" help:"PEM certificate of the CA that signed the server's certificate, for a private CA." type:"existingfile" placeholder:"FILE"`
	Email          string `help:"Your email or user name." placeholder:"EMAIL"`
	Code           string `help:"The code from your admin." placeholder:"CODE"`
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
	if purpose == db.PurposeRecover {
		fmt.Printf("%s is ready again: your new passphrase unlocks your key.\n", res.UserName)
		return nil
	}
	fmt.Printf("%s is ready: your master key is stored on %s, locked with your passphrase.\n", res.UserName, res.Server)
	if res.RecoveryFile != "" {
		fmt.Printf("Your recovery key is in %s (mode 0600): keep a copy offline.\n", res.RecoveryFile)
	}
	return nil
}

// version is the module version and VCS revision the binary was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "scimdesk (unknown version)"
	}
	v := "scimdesk " + info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}

// clip keeps one long value from widening every row of a table.
func clip(s string) string {
	const max = 60
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + "…"
}
