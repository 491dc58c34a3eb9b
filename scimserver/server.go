// Package scimserver is scimdesk's HTTP server: SCIM 2.0 (RFC 7643/7644) under /scim/v2
// for Okta and Microsoft Entra ID, with bearer-token auth, an audit event for every
// mutation, and a heartbeat in the database so that any console can show the server's state.
package scimserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"scimdesk/db"
	"scimdesk/internal/broadcast"
	"scimdesk/publicurl"
)

// Config is how the server listens and what it calls itself.
type Config struct {
	// Addr is the listen address, e.g. 127.0.0.1:8080 (":0" picks a free port).
	Addr string
	// PublicURL is the base URL clients use (behind a reverse proxy, the proxy's). Empty: the
	// URL is made from the listen address.
	PublicURL string
	// TLSCert and TLSKey are PEM files; both set serves HTTPS.
	TLSCert, TLSKey string
	// TLSConfig serves HTTPS with certificates from elsewhere (ACME: its GetCertificate),
	// instead of TLSCert and TLSKey. The connection limiter stays under TLS either way.
	TLSConfig *tls.Config
	// Host is a DNS name the server is known by (the ACME domain): with the listen port it
	// makes the URL when PublicURL is empty.
	Host string
	// Ready answers /readyz: nil when the server can serve writes, else why not. Nil: /readyz
	// answers like /healthz.
	Ready func(ctx context.Context) error
	// Logger receives the server's log. It must never be the console's screen.
	Logger *slog.Logger
	// HeartbeatEvery is how often the heartbeat and token last-use are written (default 2s).
	HeartbeatEvery time.Duration
	// MaxConns caps the connections held at once (default DefaultMaxConns); at the cap the
	// connection whose loss harms least is closed to make room (see connLimiter).
	MaxConns int
	// Observer, if set, is told about every request once it is answered (for metrics).
	Observer RequestObserver
	// Log says where Logger writes (a file path, db.LogStderr or db.LogJournal), for the
	// heartbeat: a console attached from another process names it.
	Log string
	// InviteAuto queues an emailed invitation (db.Tx.EnqueueInvite) for every user created
	// and every pending user re-activated, in the same transaction (--invite auto).
	InviteAuto bool
	// Invited, if set, is called after a commit that queued an invitation: the mail
	// worker's Kick, so that it sends now rather than at its next poll.
	Invited func()
}

// Server is the SCIM server over one database.
type Server struct {
	db    *db.DB
	cfg   Config
	log   *slog.Logger
	start time.Time
	pid   int
	// instance is this server's row in the heartbeats: one per server, so that several
	// servers on one database (instances behind a load balancer) each show.
	instance string

	ln      net.Listener
	conns   *connLimiter
	httpSrv *http.Server
	tls     bool

	requests atomic.Int64
	mu       sync.Mutex
	lastAt   time.Time
	lastUA   string
	uses     map[string]db.TokenUse // token last-use, flushed with the heartbeat
	// The SSH console beside this server, for the heartbeat (SetSSH).
	sshAddr, sshHostKey string

	refused      refusedLog // refused SCIM requests
	setupRefused refusedLog // refused setup API requests, apart so that neither hides the other
	probes       probeLog   // which reads are recorded: connection tests, first uses
	logLimit     logLimiter
	nudges       broadcast.Hub // the consoles following the server
	tokenWarn    tokenWarner   // logs tokens that expire soon, once a day each
	unserve      func()        // releases the serving lock taken by Listen
}

// New makes a server over store. Call Listen, then Serve.
func New(store *db.DB, cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = 2 * time.Second
	}
	return &Server{db: store, cfg: cfg, log: withRequestIDs(cfg.Logger), pid: os.Getpid(), instance: db.NewInstanceID(),
		uses: map[string]db.TokenUse{}}
}

// SetSSH records the SSH console that serves beside this server (its address and host
// key fingerprint), written into the heartbeat so that an attached console can show it.
func (s *Server) SetSSH(addr, hostKey string) {
	s.mu.Lock()
	s.sshAddr, s.sshHostKey = addr, hostKey
	s.mu.Unlock()
}

// Listen binds the address now, so that a port in use fails here, at once, with a clear
// error, and tests can listen on :0.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (is another server using this port? choose another with --addr)", s.cfg.Addr, err)
	}
	// The limiter goes under TLS, so that net/http still sees *tls.Conn (for r.TLS and
	// HTTP/2) and the limiter counts connections before their handshake.
	s.conns = newConnLimiter(ln, s.cfg.MaxConns)
	ln = s.conns
	if s.cfg.TLSConfig != nil {
		if s.cfg.TLSCert != "" || s.cfg.TLSKey != "" {
			ln.Close()
			return errors.New("a TLS config and certificate files were both given: choose one")
		}
		tc := s.cfg.TLSConfig.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
		ln = tls.NewListener(ln, tc)
		s.tls = true
	} else if s.cfg.TLSCert != "" || s.cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("cannot load TLS certificate and key: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		s.tls = true
	}
	// Held until Serve returns: a restore refuses while it is (see db.HoldServing).
	if s.unserve, err = s.db.HoldServing(); err != nil {
		ln.Close()
		return err
	}
	s.ln = ln
	return nil
}

// Addr is the address the server listens on (with the real port when :0 was asked for).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// TLS reports whether the server speaks HTTPS itself.
func (s *Server) TLS() bool { return s.tls }

// BaseURL is the server's root URL as clients should use it.
func (s *Server) BaseURL() string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return publicurl.FromListen(scheme, s.cfg.Host, s.Addr())
}

// URLCaveat says why the base URL is no URL to paste into an identity provider (it is
// loopback, or a guess for a wildcard listen), naming the fix; "" when it is one.
func (s *Server) URLCaveat() string { return publicurl.Caveat(s.BaseURL(), s.Addr()) }

// SCIMURL is the SCIM base URL to paste into the identity provider.
func (s *Server) SCIMURL() string { return s.BaseURL() + "/scim/v2" }

// Subscribe returns a channel nudged (without blocking the server) after every event the
// server records, so that an in-process console (the local one, or one per SSH session)
// can refresh at once instead of at its next poll. Each call has a channel of its own;
// cancel ends the subscription when that console closes.
func (s *Server) Subscribe() (nudge <-chan struct{}, cancel func()) { return s.nudges.Subscribe() }

// Serve answers requests until ctx is cancelled, then shuts down gracefully, writes the
// last token uses and removes its heartbeat.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	defer s.unserve()
	s.start = time.Now()
	const readTimeout = 30 * time.Second
	s.httpSrv = &http.Server{
		Handler: s.conns.guard(s.Handler(), readTimeout),
		// Short header and idle timeouts bound what a connection that is not doing useful
		// work costs; the TLS handshake gets the header timeout too.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       readTimeout, // a request body gets bodyTimeout of it (see guard)
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ConnState:         s.conns.track,
		ConnContext:       s.conns.connContext,
		ErrorLog:          log.New(httpErrorLog{s}, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- s.httpSrv.Serve(s.ln) }()
	s.beat(ctx)
	tick := time.NewTicker(s.cfg.HeartbeatEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-tick.C:
			s.beat(ctx)
		case <-ctx.Done():
			// Let requests in flight finish; connections that never sent a request would
			// hold Shutdown for its whole timeout, so after it the rest are closed.
			shut, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err := s.httpSrv.Shutdown(shut)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				s.log.Warn("connections still open at shutdown; closing them")
				err = s.httpSrv.Close()
			}
			s.flushUses(context.Background())
			s.refused.drain(context.Background(), s)
			s.setupRefused.drain(context.Background(), s)
			if cerr := s.db.ClearHeartbeat(context.Background(), s.instance); cerr != nil {
				s.log.Warn("clear heartbeat", "err", cerr)
			}
			return err
		}
	}
}

// beat writes the heartbeat and the token uses collected since the last one.
func (s *Server) beat(ctx context.Context) {
	s.flushUses(ctx)
	s.refused.flush(ctx, s)
	s.setupRefused.flush(ctx, s)
	s.logLimit.flush(s.log)
	s.tokenWarn.check(ctx, s, time.Now())
	s.mu.Lock()
	h := db.Heartbeat{Instance: s.instance, Host: db.ThisHost(), PID: s.pid, Addr: s.Addr(), TLS: s.tls, PublicURL: s.BaseURL(), Started: s.start,
		Beat: time.Now(), Requests: s.requests.Load(), LastRequest: s.lastAt, LastUserAgent: s.lastUA, Log: s.cfg.Log,
		SSHAddr: s.sshAddr, SSHHostKey: s.sshHostKey}
	s.mu.Unlock()
	if err := s.db.WriteHeartbeat(ctx, h); err != nil && ctx.Err() == nil {
		s.log.Warn("write heartbeat", "err", err)
	}
}

func (s *Server) flushUses(ctx context.Context) {
	s.mu.Lock()
	uses := make([]db.TokenUse, 0, len(s.uses))
	for _, u := range s.uses {
		uses = append(uses, u)
	}
	clear(s.uses)
	s.mu.Unlock()
	if err := s.db.RecordTokenUses(ctx, uses); err != nil && ctx.Err() == nil {
		s.log.Warn("record token use", "err", err)
	}
}

// published nudges the console; it never blocks a request.
func (s *Server) published() { s.nudges.Publish() }
