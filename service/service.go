// Package service is the runtime of `scimdesk serve` and of the console's embedded server:
// it binds the listeners (SCIM over HTTP or HTTPS, with certificates from files or from
// ACME, and ACME's HTTP-01 listener), answers the health probes, runs every part together
// and stops them together. It is the one package that knows scimserver, db and the
// certificate machinery at once; cli only turns flags into a Config.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/sync/errgroup"

	"scimdesk/backup"
	"scimdesk/db"
	"scimdesk/internal/httpserve"
	"scimdesk/invite"
	"scimdesk/metrics"
	"scimdesk/scimserver"
	"scimdesk/sshconsole"
)

// Config is what the service runs.
type Config struct {
	// DB is the open database; the caller closes it after Run returns.
	DB *db.DB
	// Logger receives the service's log (never the console's screen). Nil: discarded.
	Logger *slog.Logger
	// SCIM is how the SCIM server listens: Addr, PublicURL, TLSCert and TLSKey, MaxConns.
	// Its Logger, TLSConfig, Host and Ready are the service's to fill.
	SCIM scimserver.Config
	// ACME obtains and renews the SCIM server's certificate; off without domains.
	ACME ACME
	// Health tunes /readyz.
	Health Health
	// Backups, when set, takes a backup of DB on its schedule while the service runs.
	Backups *backup.Schedule
	// MetricsAddr, when set, serves Prometheus metrics at /metrics on a listener of its
	// own (keep it on loopback or firewalled: it is not authenticated).
	MetricsAddr string
	// SSH, when set, serves the console over SSH beside the SCIM server. Its host key
	// defaults to sshconsole.HostKeyPath of the database, and its Logger to the service's.
	SSH *sshconsole.Config
	// Mail, when set, runs the invitation worker (package invite) beside the SCIM server:
	// its DB and ServerURL (the SCIM server's public base URL) are the service's to fill,
	// its Logger defaults to the service's, and the SCIM server kicks it after a commit
	// that queued an invitation.
	Mail *invite.Config
}

// Unit is one part of the running service: a listener or a schedule. Run serves until ctx
// ends, then stops and returns; an error from any unit stops all of them.
type Unit struct {
	Name string
	Run  func(ctx context.Context) error
}

// Service is the running (or ready to run) whole: the SCIM server and its companions.
type Service struct {
	cfg      Config
	log      *slog.Logger
	scim     *scimserver.Server
	acme     *autocert.Manager
	acmeLn   net.Listener // HTTP-01 challenges, when ACME.HTTPAddr is set
	ready    *readiness
	units    []Unit
	listened bool
	metrics  *metrics.Metrics
	metricsE *metrics.Endpoint
	ssh      *sshconsole.Server
	mailer   *invite.Mailer
}

// New checks cfg and builds the service; nothing listens yet (see Listen).
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil {
		return nil, errors.New("service: no database")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Service{cfg: cfg, log: cfg.Logger}
	s.ready = newReadiness(cfg.DB, cfg.Health, cfg.Logger)
	sc := cfg.SCIM
	sc.Logger = cfg.Logger
	sc.Ready = s.ready.check
	if cfg.ACME.enabled() {
		if sc.TLSCert != "" || sc.TLSKey != "" {
			return nil, errors.New("--acme-domain and --tls-cert/--tls-key exclude each other: ACME obtains the certificate itself; give one or the other")
		}
		domains, err := cfg.ACME.checkDomains()
		if err != nil {
			return nil, err
		}
		cfg.ACME.Domains = domains
		s.cfg.ACME.Domains = domains
		m, tc, err := newACME(cfg.ACME, cfg.DB.LocalPath())
		if err != nil {
			return nil, err
		}
		s.acme = m
		sc.TLSConfig = tc
		sc.Host = cfg.ACME.Domains[0]
	} else if err := cfg.ACME.unused(); err != nil {
		return nil, err
	}
	if cfg.MetricsAddr != "" {
		s.metrics = metrics.New(cfg.DB, metrics.Options{})
		sc.Observer = s.metrics
	}
	if cfg.Mail != nil {
		mc := *cfg.Mail
		mc.DB = cfg.DB
		if mc.Logger == nil {
			mc.Logger = cfg.Logger
		}
		mc.ServerURL = func() string { return s.scim.BaseURL() }
		if mc.SignIn == nil {
			// Once an admin sets up sign-in (oidc set), invitations say to sign in
			// instead of carrying a code: read at each send, so no restart is needed.
			mc.SignIn = func(ctx context.Context) (bool, error) {
				c, err := cfg.DB.OIDCConfig(ctx)
				return c.Configured(), err
			}
		}
		m, err := invite.New(mc)
		if err != nil {
			return nil, err
		}
		s.mailer = m
		sc.Invited = m.Kick
	}
	s.scim = scimserver.New(cfg.DB, sc)
	if cfg.SSH != nil {
		c := *cfg.SSH
		if c.HostKeyPath == "" {
			c.HostKeyPath = sshconsole.HostKeyPath(cfg.DB.LocalPath())
		}
		if c.Logger == nil {
			c.Logger = cfg.Logger
		}
		ssh, err := sshconsole.New(c)
		if err != nil {
			return nil, err
		}
		s.ssh = ssh
	}
	return s, nil
}

// Listen binds every listener now, so that a port in use fails here, at once, with a
// clear error (and tests can listen on :0). On error nothing stays bound.
func (s *Service) Listen() error {
	if s.listened {
		return nil
	}
	if err := s.listen(); err != nil {
		s.unlisten()
		return err
	}
	s.listened = true
	return nil
}

// listen binds the listeners one by one, stopping at the first that fails.
func (s *Service) listen() error {
	if s.acme != nil && s.cfg.ACME.HTTPAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.ACME.HTTPAddr)
		if err != nil {
			return fmt.Errorf("cannot listen on %s for ACME's HTTP-01 challenges: %w (choose another with --acme-http-addr, or leave it out to use TLS-ALPN-01 on the TLS port)", s.cfg.ACME.HTTPAddr, err)
		}
		s.acmeLn = ln
	}
	if s.metrics != nil {
		ep, err := s.metrics.Listen(s.cfg.MetricsAddr)
		if err != nil {
			return err
		}
		s.metricsE = ep
	}
	if s.ssh != nil {
		if err := s.ssh.Listen(); err != nil {
			return err
		}
		s.scim.SetSSH(s.ssh.Addr(), s.ssh.Fingerprint())
	}
	return s.scim.Listen()
}

// unlisten closes whatever listen bound before it failed (the SCIM server's Listen leaves
// nothing bound when it fails).
func (s *Service) unlisten() {
	s.ssh.Close() // nil-safe, and a no-op when it never listened
	if s.acmeLn != nil {
		s.acmeLn.Close()
		s.acmeLn = nil
	}
	if s.metricsE != nil {
		s.metricsE.Close()
		s.metricsE = nil
	}
}

// Add puts another unit (a metrics listener, a backup schedule) into the service; call it
// before Run. A unit that listens should bind before Add, so that its error comes first.
func (s *Service) Add(u Unit) { s.units = append(s.units, u) }

// SCIM is the SCIM server, for the console that shows its URL and follows its events.
func (s *Service) SCIM() *scimserver.Server { return s.scim }

// Mailer is the invitation worker, nil without --smtp-url.
func (s *Service) Mailer() *invite.Mailer { return s.mailer }

// SSH is the SSH console service, nil without one.
func (s *Service) SSH() *sshconsole.Server { return s.ssh }

// MetricsAddr is where /metrics is served ("" without it), with the real port.
func (s *Service) MetricsAddr() string {
	if s.metricsE == nil {
		return ""
	}
	return s.metricsE.Addr()
}

// ACMEHTTPAddr is where the HTTP-01 listener listens ("" without one), with the real port.
func (s *Service) ACMEHTTPAddr() string {
	if s.acmeLn == nil {
		return ""
	}
	return s.acmeLn.Addr().String()
}

// Run serves until ctx ends or a unit fails, then stops every unit and returns once all
// have stopped: the SCIM server finishes the requests in flight, writes its last token
// uses and clears its heartbeat, so the caller may close the database right after.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	scimserver.TuneRuntime()
	s.announce(ctx)
	g, gctx := errgroup.WithContext(ctx)
	if s.acmeLn != nil {
		// Made before obtain runs: making it is what tells autocert to offer HTTP-01.
		challenges := withoutPort(s.acme.HTTPHandler(nil))
		g.Go(func() error { return ServeHTTP(gctx, s.acmeLn, challenges) })
	}
	if s.acme != nil {
		go s.obtain(gctx)
	}
	g.Go(func() error { return s.scim.Serve(gctx) })
	if s.metricsE != nil {
		g.Go(func() error { return s.metricsE.Serve(gctx) })
	}
	if s.ssh != nil {
		g.Go(func() error { return s.ssh.Serve(gctx) })
	}
	if s.mailer != nil {
		g.Go(func() error { return s.mailer.Run(gctx) })
	}
	if b := s.cfg.Backups; b != nil {
		// A failed backup is logged and retried; it never stops the server.
		g.Go(func() error { b.Run(gctx, s.cfg.DB, s.log); return nil })
	}
	for _, u := range s.units {
		g.Go(func() error {
			if err := u.Run(gctx); err != nil {
				return fmt.Errorf("%s: %w", u.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// announce logs where the service serves and what the admin should know about it.
func (s *Service) announce(ctx context.Context) {
	on, _ := s.cfg.DB.SCIMEnabled(ctx)
	attrs := []any{"scim_url", s.scim.SCIMURL(), "listen", s.scim.Addr(), "tls", s.scim.TLS(), "db", s.cfg.DB.Path(), "scim_enabled", on}
	if s.acme != nil {
		attrs = append(attrs, "acme_domains", s.cfg.ACME.Domains, "acme_directory", s.cfg.ACME.directory())
		if a := s.ACMEHTTPAddr(); a != "" {
			attrs = append(attrs, "acme_http", a)
		}
	}
	if a := s.MetricsAddr(); a != "" {
		attrs = append(attrs, "metrics", "http://"+a+"/metrics")
	}
	if s.ssh != nil {
		// The fingerprint is what an admin compares with what ssh shows on first connect.
		attrs = append(attrs, "ssh", s.ssh.Addr(), "ssh_host_key", s.ssh.Fingerprint())
	}
	s.log.Info("scimdesk serving", attrs...)
	if c := s.scim.URLCaveat(); c != "" {
		s.log.Warn("the SCIM URL is not reachable from other machines: " + c)
	}
	if !on {
		s.log.Warn("SCIM provisioning is disabled: requests get 403 until `scimdesk scim enable`")
	}
}

// withoutPort takes the port off the Host header before autocert checks it against the
// domains: a CA that validates HTTP-01 on a port other than 80 (a test CA, an internal
// one) sends "name:port", which autocert would refuse.
func withoutPort(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r = r.Clone(r.Context())
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP serves h on ln until ctx ends, then shuts down gracefully (for a few seconds,
// then closing what is left). For small companion listeners: ACME's HTTP-01, metrics.
func ServeHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	return httpserve.Run(ctx, srv, ln, 3*time.Second)
}
