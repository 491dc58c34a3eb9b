package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"scimdesk/db"
	"scimdesk/logfile"
	"scimdesk/scimserver"
	"scimdesk/service"
	"scimdesk/tui"
)

// serverFlags configure the SCIM server (console and serve).
type serverFlags struct {
	Addr        string `help:"Address the SCIM server listens on." default:"127.0.0.1:8080" env:"SCIMDESK_ADDR"`
	PublicURL   string `help:"Base URL clients reach the server at (behind a reverse proxy), e.g. https://scim.example.com." env:"SCIMDESK_PUBLIC_URL" placeholder:"URL"`
	TLSCert     string `help:"PEM certificate file: serve HTTPS directly (Okta requires HTTPS)." type:"existingfile" placeholder:"FILE"`
	TLSKey      string `help:"PEM private key file for --tls-cert." type:"existingfile" placeholder:"FILE"`
	MaxConns    int    `help:"Most connections held at once; at the cap the one whose loss harms least (a dead, silent, trickling or long-idle one) is closed to make room." default:"1024" env:"SCIMDESK_MAX_CONNS" placeholder:"N"`
	LogFile     string `help:"Server log file, rotated at 10 MiB, 3 files kept (default: scimdesk.log beside the database; serve logs to stderr)." placeholder:"PATH"`
	MetricsAddr string `help:"Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464 (off unless given; not authenticated: keep it on loopback or firewalled)." env:"SCIMDESK_METRICS_ADDR" placeholder:"ADDR"`
	LogFormat   string `help:"Log line format: text (key=value) or json (one object per line)." enum:"text,json" default:"text" env:"SCIMDESK_LOG_FORMAT"`

	ACMEDomain    []string `name:"acme-domain" help:"Get and renew the HTTPS certificate for this DNS name by ACME (repeatable); the SCIM URL becomes https://NAME/scim/v2 unless --public-url says otherwise." placeholder:"NAME" env:"SCIMDESK_ACME_DOMAIN"`
	ACMEEmail     string   `name:"acme-email" help:"Contact address of the ACME account (the CA may write there about your certificates)." placeholder:"EMAIL" env:"SCIMDESK_ACME_EMAIL"`
	ACMEDirectory string   `name:"acme-directory" help:"ACME directory URL of the CA (default: Let's Encrypt production), e.g. an internal step-ca." placeholder:"URL" env:"SCIMDESK_ACME_DIRECTORY"`
	ACMECARoot    string   `name:"acme-ca-root" help:"PEM file of CA certificates to trust when talking to the ACME server (a private CA's directory)." type:"existingfile" placeholder:"FILE"`
	ACMEHTTPAddr  string   `name:"acme-http-addr" help:"Also answer ACME HTTP-01 challenges here, e.g. :80 (other requests are redirected to HTTPS); without it, TLS-ALPN-01 on the TLS port." placeholder:"ADDR"`

	mailFlags
}

// config is the service's configuration from the flags; the caller adds the database.
func (f *serverFlags) config(log *slog.Logger) (service.Config, error) {
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return service.Config{}, errors.New("--tls-cert and --tls-key go together")
	}
	if f.MaxConns < 1 {
		return service.Config{}, fmt.Errorf("--max-conns %d: give at least 1", f.MaxConns)
	}
	return withMail(service.Config{
		Logger: log,
		SCIM: scimserver.Config{Addr: f.Addr, PublicURL: strings.TrimRight(f.PublicURL, "/"), TLSCert: f.TLSCert, TLSKey: f.TLSKey,
			MaxConns: f.MaxConns},
		MetricsAddr: f.MetricsAddr,
		ACME: service.ACME{Domains: f.ACMEDomain, Email: f.ACMEEmail, DirectoryURL: f.ACMEDirectory, CARoot: f.ACMECARoot,
			HTTPAddr: f.ACMEHTTPAddr},
	}, f.mailFlags)
}

type serveCmd struct {
	serverFlags
	backupFlags
	sshFlags
}

func (c *serveCmd) Run(ctx context.Context, g *Globals) error {
	sched, backups, err := c.schedule()
	if err != nil {
		return err
	}
	d, err := g.create(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	// One server per SQLite file; PostgreSQL is served by as many instances as wanted.
	if h, ok := liveServer(ctx, d); ok && !d.Postgres() {
		return fmt.Errorf("another scimdesk (pid %d) already serves this database on %s", h.PID, h.Addr)
	}
	out := io.Writer(os.Stderr) // journald or the container runtime caps it
	logWhere := db.LogStderr
	if os.Getenv("JOURNAL_STREAM") != "" { // systemd connected stderr to the journal
		logWhere = db.LogJournal
	}
	if c.LogFile != "" {
		logWhere = absPath(c.LogFile)
		f, err := logfile.Open(c.LogFile, logfile.DefaultMaxBytes, logfile.DefaultFiles)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	log, err := newLogger(out, c.LogFormat)
	if err != nil {
		return err
	}
	cfg, err := c.config(log)
	if err != nil {
		return err
	}
	cfg.DB = d
	cfg.SCIM.Log = logWhere
	if backups {
		cfg.Backups = &sched
	}
	var svc *service.Service
	logPath := c.LogFile
	if logPath == "" {
		logPath = "stderr of scimdesk serve"
	}
	if cfg.SSH, err = c.sshConfig(d, &svc, logPath, c.ClientDownloadURL); err != nil {
		return err
	}
	svc, err = service.New(cfg)
	if err != nil {
		return err
	}
	if err := svc.Listen(); err != nil {
		return err
	}
	err = svc.Run(ctx)
	log.Info("scimdesk stopped", "err", err)
	return err
}

type consoleCmd struct {
	serverFlags
	Serve bool `help:"Also run a SCIM server instance in this console on a PostgreSQL database. (On a SQLite file the console serves whenever no other process does; on PostgreSQL it attaches to the instances that run as scimdesk serve, and serves nothing itself unless asked.)"`
}

func (c *consoleCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.create(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	logPath := c.LogFile
	if logPath == "" {
		logPath = filepath.Join(filepath.Dir(d.LocalPath()), "scimdesk.log")
		if d.Postgres() { // one data directory holds the logs of every database this machine reaches
			logPath = d.LocalPath() + ".log"
		}
	}
	f, err := logfile.Open(logPath, logfile.DefaultMaxBytes, logfile.DefaultFiles)
	if err != nil {
		return err
	}
	defer f.Close()
	log, err := newLogger(f, c.LogFormat)
	if err != nil {
		return err
	}
	cfg, err := c.config(log)
	if err != nil {
		return err
	}
	cfg.DB = d
	cfg.SCIM.Log = absPath(logPath)
	svc, err := service.New(cfg)
	if err != nil {
		return err
	}
	opts := tui.Options{DB: d, LogPath: logPath, DownloadURL: c.ClientDownloadURL}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	h, live := liveServer(ctx, d)
	switch {
	case d.Postgres() && !c.Serve:
		if live {
			opts.AttachedPID = h.PID
		} else {
			opts.ServerErr = errors.New("no scimdesk instance serves this PostgreSQL database: start one with scimdesk serve, " +
				"or open the console with --serve to serve from here")
		}
	case live && !d.Postgres():
		opts.AttachedPID = h.PID
	default:
		if err := svc.Listen(); err != nil {
			// The console still opens, so the admin can manage tokens and read the log,
			// and sees why the server is not running.
			opts.ServerErr = err
		} else {
			opts.Server = svc.SCIM()
			go func() { served <- svc.Run(ctx) }()
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

// absPath is path made absolute when it can be, for the heartbeat: a console started in
// another directory reads it.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
