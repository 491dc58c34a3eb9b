// Package sshconsole serves scimdesk's console over SSH, attached to the running server:
// `ssh -p 2222 host` opens the console for the admins whose public keys are listed in an
// authorized-keys file, and for nobody else. It serves that console and nothing more: no
// shell, no commands, no forwarding, no SFTP.
package sshconsole

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	"charm.land/wish/v2/bubbletea"
	gossh "golang.org/x/crypto/ssh"
)

// Defaults of Config's limits.
const (
	DefaultIdleTimeout      = 15 * time.Minute
	DefaultMaxSessions      = 10
	DefaultMaxPending       = 32
	DefaultHandshakeTimeout = 20 * time.Second
)

// maxEnv bounds the environment variables a session may set: each is kept for the
// session's life.
const maxEnv = 64

// maxCols and maxRows bound the terminal size a client may claim: the console allocates
// its screen by it, and a claimed 100000×100000 would take the whole server's memory.
const (
	maxCols = 512
	maxRows = 256
)

// Session is what a console is told of the SSH session it is shown in.
type Session struct {
	// Actor names the admin in the audit log: "ssh:", the key's comment and fingerprint.
	Actor string
	// Comment is the authorized key's comment, as written in the file (not cleaned).
	Comment string
	// Fingerprint is the key's SHA256 fingerprint, as ssh-keygen -l prints it.
	Fingerprint string
	// RemoteAddr is where the client connects from.
	RemoteAddr string
}

// Console builds the console model of one session. ctx ends when the session does.
type Console func(ctx context.Context, s Session) (tea.Model, error)

// Config is what the SSH console service needs.
type Config struct {
	// Addr is the address to listen on, e.g. ":2222".
	Addr string
	// HostKeyPath is the host key file; an ed25519 key is made there on first start.
	HostKeyPath string
	// AuthorizedKeys is the OpenSSH authorized-keys file of the admins; read again
	// whenever it changes.
	AuthorizedKeys string
	// IdleTimeout closes a session after this long without input from its client
	// (DefaultIdleTimeout if zero).
	IdleTimeout time.Duration
	// MaxSessions caps the consoles open at once (DefaultMaxSessions if zero).
	MaxSessions int
	// MaxPending caps the connections not yet in a session: handshakes, logins
	// (DefaultMaxPending if zero). What an unauthenticated client can hold is bounded by it.
	MaxPending int
	// HandshakeTimeout bounds the handshake and login (DefaultHandshakeTimeout if zero).
	HandshakeTimeout time.Duration
	// Logger receives the service's log; nil discards it.
	Logger *slog.Logger
	// Console builds each session's console.
	Console Console
}

// Server is the SSH console service.
type Server struct {
	cfg         Config
	log         *slog.Logger
	signer      gossh.Signer
	fingerprint string
	keys        *authorizedKeys
	srv         *ssh.Server
	ln          net.Listener

	sessions atomic.Int64 // consoles open now
	pending  atomic.Int64 // connections not in a session yet
	refusals refusalLog
}

// New reads (or makes) the host key and reads the authorized-keys file; nothing listens
// yet (see Listen). A missing authorized-keys file is an error: a typo must not leave a
// server nobody can log in to without saying so.
func New(cfg Config) (*Server, error) {
	if cfg.Console == nil {
		return nil, errors.New("sshconsole: no console")
	}
	if cfg.AuthorizedKeys == "" {
		return nil, errors.New("--ssh-addr needs --ssh-authorized-keys: the file of the admins' public keys")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	signer, created, fixed, err := loadHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, err
	}
	s.signer, s.fingerprint = signer, gossh.FingerprintSHA256(signer.PublicKey())
	if created {
		s.log.Info("SSH host key created", "file", cfg.HostKeyPath, "fingerprint", s.fingerprint)
	}
	if fixed {
		s.log.Warn("SSH host key was readable by others: made 0600", "file", cfg.HostKeyPath)
	}
	if s.keys, err = newAuthorizedKeys(cfg.AuthorizedKeys, s.log); err != nil {
		return nil, err
	}
	if s.keys.count() == 0 {
		s.log.Warn("SSH authorized keys: no key in the file, so nobody can log in yet", "file", cfg.AuthorizedKeys)
	}
	s.srv, err = wish.NewServer(
		func(srv *ssh.Server) error { srv.AddHostKey(signer); return nil },
		wish.WithVersion("scimdesk"),
		wish.WithPublicKeyAuth(s.authorize),
		wish.WithIdleTimeout(cfg.IdleTimeout),
		// Middlewares run last first: gate decides, then the console runs.
		wish.WithMiddleware(bubbletea.MiddlewareWithProgramHandler(s.program), s.gate),
		s.lockDown,
	)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// lockDown allows a session channel for the console and nothing else: the protocol's
// other features (forwarding, subsystems, agent and X11) are refused, whatever a library
// default may allow.
func (s *Server) lockDown(srv *ssh.Server) error {
	srv.HandshakeTimeout = s.cfg.HandshakeTimeout
	srv.ChannelHandlers = map[string]ssh.ChannelHandler{"session": s.sessionChannel}
	srv.RequestHandlers = map[string]ssh.RequestHandler{}     // tcpip-forward and the like: refused
	srv.SubsystemHandlers = map[string]ssh.SubsystemHandler{} // sftp and the like: refused
	srv.LocalPortForwardingCallback = nil
	srv.ReversePortForwardingCallback = nil
	srv.PasswordHandler = nil
	srv.KeyboardInteractiveHandler = nil
	srv.SessionRequestCallback = s.sessionRequest
	srv.ConnCallback = s.admit
	srv.ConnectionFailedCallback = func(conn net.Conn, err error) {
		s.refusals.note(s.log, conn.RemoteAddr(), err)
	}
	return nil
}

// Listen binds the address now, so that a port in use fails at start with a clear error.
func (s *Server) Listen() error {
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s for the SSH console: %w (choose another with --ssh-addr)", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is where the service listens (with the real port once listening).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Fingerprint is the host key's SHA256 fingerprint, for admins to check on first connect.
func (s *Server) Fingerprint() string { return s.fingerprint }

// Sessions is how many consoles are open now.
func (s *Server) Sessions() int { return int(s.sessions.Load()) }

// Serve serves until ctx ends, then closes every session and connection.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		// Sessions end with their connections; a console has nothing to flush.
		s.srv.Close()
		if err := <-errc; !errors.Is(err, ssh.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// authorize lets in the keys of the authorized-keys file, as it is now.
func (s *Server) authorize(_ ssh.Context, key ssh.PublicKey) bool {
	_, ok := s.keys.lookup(key)
	return ok
}

// admit counts a new connection as pending until it opens its first session, refusing it
// when MaxPending are pending already: handshakes and logins are what anyone on the
// network can start, so they must not grow without bound.
func (s *Server) admit(ctx ssh.Context, conn net.Conn) net.Conn {
	if s.pending.Add(1) > int64(s.cfg.MaxPending) {
		s.pending.Add(-1)
		s.refusals.note(s.log, conn.RemoteAddr(), fmt.Errorf("%d connections are logging in already (the cap)", s.cfg.MaxPending))
		return nil
	}
	c := &pendingConn{Conn: conn, done: func() { s.pending.Add(-1) }}
	ctx.SetValue(pendingKey{}, c)
	return c
}

type pendingKey struct{}

// pendingConn is a connection counted as pending until it opens a session or closes.
type pendingConn struct {
	net.Conn
	once     sync.Once
	done     func()
	channels atomic.Int64 // session channels open on it
}

func (c *pendingConn) settled() { c.once.Do(c.done) }

func (c *pendingConn) Close() error {
	c.settled()
	return c.Conn.Close()
}

// sessionChannel accepts a session channel (only logged-in clients get here), with the
// requests the console has no use for refused.
// Session channels on one connection are capped at MaxSessions, so that an admin's
// client cannot hold channels without end either.
func (s *Server) sessionChannel(srv *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
	c, ok := ctx.Value(pendingKey{}).(*pendingConn)
	if !ok { // every connection comes through admit
		_ = ch.Reject(gossh.ConnectionFailed, "scimdesk: connection not admitted")
		return
	}
	c.settled()
	if c.channels.Add(1) > int64(s.cfg.MaxSessions) {
		c.channels.Add(-1)
		_ = ch.Reject(gossh.ResourceShortage, fmt.Sprintf("scimdesk: at most %d sessions on one connection", s.cfg.MaxSessions))
		return
	}
	defer c.channels.Add(-1)
	ssh.DefaultSessionHandler(srv, conn, refusingChannel{ch}, ctx) // returns when the channel closes
}

// refusingChannel refuses agent and X11 forwarding, which the library would otherwise
// accept, and environment variables beyond maxEnv.
type refusingChannel struct{ gossh.NewChannel }

func (c refusingChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := c.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	out := make(chan *gossh.Request)
	go func() {
		defer close(out)
		env := 0
		for r := range reqs {
			refuse := false
			switch r.Type {
			case "auth-agent-req@openssh.com", "x11-req":
				refuse = true
			case "env":
				env++
				refuse = env > maxEnv
			case "pty-req", "window-change":
				r.Payload = clampWindow(r.Type, r.Payload)
			}
			if refuse {
				if r.WantReply {
					_ = r.Reply(false, nil)
				}
				continue
			}
			out <- r
		}
	}()
	return ch, out, nil
}

// sessionRequest allows a shell on a terminal, which is the console, and refuses the rest
// (a command, a subsystem such as SFTP, a shell without a terminal), saying why.
func (s *Server) sessionRequest(sess ssh.Session, kind string) bool {
	var why string
	switch kind {
	case "shell":
		if _, _, ok := sess.Pty(); ok {
			return true
		}
		why = "the scimdesk console needs a terminal: connect with ssh -t"
	case "exec":
		why = "scimdesk runs no commands over SSH, it serves its console: connect without a command"
	case "subsystem":
		why = "scimdesk serves no subsystem (SFTP, …) over SSH, only its console"
	default:
		why = "scimdesk serves only its console over SSH"
	}
	fmt.Fprintf(sess.Stderr(), "%s\r\n", why)
	s.log.Info("SSH request refused", "request", kind, "remote", sess.RemoteAddr().String())
	return false
}

// gate admits a session to a console: its key must still be authorized, it must have a
// terminal, and fewer than MaxSessions consoles may be open. It then watches the session
// for idleness.
func (s *Server) gate(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		pk := sess.PublicKey()
		if pk == nil { // only public keys log in; this is belt and braces
			wish.Fatalln(sess, "scimdesk: log in with an authorized public key")
			return
		}
		key, ok := s.keys.lookup(pk)
		if !ok { // removed from the file since the login
			wish.Fatalln(sess, "scimdesk: your key is no longer authorized")
			return
		}
		if _, _, ok := sess.Pty(); !ok || sess.RawCommand() != "" || sess.Subsystem() != "" {
			wish.Fatalln(sess, "scimdesk serves only its console, on a terminal: ssh -t, without a command")
			return
		}
		if n := s.sessions.Add(1); n > int64(s.cfg.MaxSessions) {
			s.sessions.Add(-1)
			s.log.Warn("SSH console refused: too many open", "max", s.cfg.MaxSessions, "remote", sess.RemoteAddr().String())
			wish.Fatalf(sess, "scimdesk: %d consoles are open already, the most this server allows (--ssh-max-sessions); try again when one closes\r\n", s.cfg.MaxSessions)
			return
		}
		defer s.sessions.Add(-1)
		ctx, cancel := context.WithCancel(sess.Context())
		defer cancel()
		cs := &consoleSession{Session: sess, ctx: ctx, info: Session{
			Actor: Actor(key.comment, key.fingerprint), Comment: key.comment, Fingerprint: key.fingerprint,
			RemoteAddr: sess.RemoteAddr().String(),
		}}
		cs.touch()
		go s.watchIdle(cs, cancel)
		s.log.Info("SSH console opened", "actor", cs.info.Actor, "remote", cs.info.RemoteAddr)
		next(cs)
		if cs.idled.Load() {
			fmt.Fprintf(sess.Stderr(), "scimdesk: console closed after %s without input\r\n", s.cfg.IdleTimeout)
			s.log.Info("SSH console closed: idle", "actor", cs.info.Actor, "idle", s.cfg.IdleTimeout.String())
			return
		}
		s.log.Info("SSH console closed", "actor", cs.info.Actor)
	}
}

// program builds the session's own console and the Bubble Tea program that shows it on
// the session's terminal (its size, its colour profile from TERM, its input).
func (s *Server) program(sess ssh.Session) *tea.Program {
	cs, ok := sess.(*consoleSession)
	if !ok {
		return nil
	}
	m, err := s.cfg.Console(cs.ctx, cs.info)
	if err != nil {
		s.log.Error("SSH console cannot start", "actor", cs.info.Actor, "err", err)
		wish.Errorf(sess, "scimdesk: the console cannot start: %v\r\n", err)
		return nil
	}
	// Not tea.WithContext: when the connection drops, the middleware quits the program
	// itself, and a killed program would be logged as an error outside our log.
	// Without the signal handler: the server's SIGINT or SIGTERM is the service's to handle
	// (it closes every session), not each console's.
	p := tea.NewProgram(m, append(bubbletea.MakeOptions(sess), tea.WithoutSignalHandler())...)
	cs.program.Store(p)
	return p
}

// watchIdle ends the session once its client has sent nothing for IdleTimeout: output
// (the live activity) does not keep a forgotten console open.
func (s *Server) watchIdle(cs *consoleSession, cancel context.CancelFunc) {
	t := time.NewTimer(s.cfg.IdleTimeout)
	defer t.Stop()
	for {
		select {
		case <-cs.ctx.Done():
			return
		case <-t.C:
			left := s.cfg.IdleTimeout - time.Since(cs.lastInput())
			if left > 0 {
				t.Reset(left)
				continue
			}
			cs.idled.Store(true)
			if p := cs.program.Load(); p != nil {
				p.Quit() // restores the client's terminal
				return
			}
			cancel()
			return
		}
	}
}

// consoleSession is a session admitted to a console: it notes when its client last sent
// input, and carries what the console is told.
type consoleSession struct {
	ssh.Session
	ctx     context.Context
	info    Session
	last    atomic.Int64 // unix nanoseconds of the last input
	idled   atomic.Bool
	program atomic.Pointer[tea.Program]
}

func (cs *consoleSession) Read(p []byte) (int, error) {
	n, err := cs.Session.Read(p)
	if n > 0 {
		cs.touch()
	}
	return n, err
}

func (cs *consoleSession) touch()               { cs.last.Store(time.Now().UnixNano()) }
func (cs *consoleSession) lastInput() time.Time { return time.Unix(0, cs.last.Load()) }

// refusalLog logs refused connections and logins, at most one line a second with a count
// of those left out, so that a scan of the port cannot flood the log.
type refusalLog struct {
	mu      sync.Mutex
	last    time.Time
	skipped int
}

func (r *refusalLog) note(log *slog.Logger, addr net.Addr, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.last) < time.Second {
		r.skipped++
		return
	}
	remote := ""
	if addr != nil {
		remote = addr.String()
	}
	log.Warn("SSH connection refused", "remote", remote, "err", err, "not_logged_since_last", r.skipped)
	r.last, r.skipped = time.Now(), 0
}

// Close releases the listener of a server that will not Serve (a later listener of the
// service failed to bind). Nil-safe.
func (s *Server) Close() {
	if s != nil && s.ln != nil {
		s.ln.Close()
	}
}

// clampWindow bounds the size in a pty-req or window-change request to maxCols×maxRows;
// a payload it cannot read is passed on as it is (the library then refuses it).
func clampWindow(kind string, payload []byte) []byte {
	clamp := func(cols, rows *uint32) {
		*cols, *rows = min(*cols, maxCols), min(*rows, maxRows)
	}
	if kind == "pty-req" {
		var p struct {
			Term                 string
			Cols, Rows, Xpx, Ypx uint32
			Modes                string
		}
		if gossh.Unmarshal(payload, &p) != nil {
			return payload
		}
		clamp(&p.Cols, &p.Rows)
		return gossh.Marshal(p)
	}
	var w struct{ Cols, Rows, Xpx, Ypx uint32 }
	if gossh.Unmarshal(payload, &w) != nil {
		return payload
	}
	clamp(&w.Cols, &w.Rows)
	return gossh.Marshal(w)
}
