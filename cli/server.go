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

	"scimdesk/logfile"
	"scimdesk/scimserver"
	"scimdesk/tui"
)

// serverFlags configure the SCIM server (console and serve).
type serverFlags struct {
	Addr      string `help:"Address the SCIM server listens on." default:"127.0.0.1:8080" env:"SCIMDESK_ADDR"`
	PublicURL string `help:"Base URL clients reach the server at (behind a reverse proxy), e.g. https://scim.example.com." env:"SCIMDESK_PUBLIC_URL" placeholder:"URL"`
	TLSCert   string `help:"PEM certificate file: serve HTTPS directly (Okta requires HTTPS)." type:"existingfile" placeholder:"FILE"`
	TLSKey    string `help:"PEM private key file for --tls-cert." type:"existingfile" placeholder:"FILE"`
	MaxConns  int    `help:"Most connections held at once; at the cap the one whose loss harms least (a dead, silent, trickling or long-idle one) is closed to make room." default:"1024" env:"SCIMDESK_MAX_CONNS" placeholder:"N"`
	LogFile   string `help:"Server log file, rotated at 10 MiB, 3 files kept (default: scimdesk.log beside the database; serve logs to stderr)." placeholder:"PATH"`
	LogFormat string `help:"Log line format: text (key=value) or json (one object per line)." enum:"text,json" default:"text" env:"SCIMDESK_LOG_FORMAT"`
}

func (f *serverFlags) config(log *slog.Logger) (scimserver.Config, error) {
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return scimserver.Config{}, errors.New("--tls-cert and --tls-key go together")
	}
	if f.MaxConns < 1 {
		return scimserver.Config{}, fmt.Errorf("--max-conns %d: give at least 1", f.MaxConns)
	}
	return scimserver.Config{Addr: f.Addr, PublicURL: strings.TrimRight(f.PublicURL, "/"), TLSCert: f.TLSCert, TLSKey: f.TLSKey,
		MaxConns: f.MaxConns, Logger: log}, nil
}

type serveCmd struct {
	serverFlags
}

func (c *serveCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.create(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	if h, ok := liveServer(ctx, d); ok {
		return fmt.Errorf("another scimdesk (pid %d) already serves this database on %s", h.PID, h.Addr)
	}
	out := io.Writer(os.Stderr) // journald or the container runtime caps it
	if c.LogFile != "" {
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

func (c *consoleCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.create(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	logPath := c.LogFile
	if logPath == "" {
		logPath = filepath.Join(filepath.Dir(d.Path()), "scimdesk.log")
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
