// Package invite emails setup codes to pending users: it drains the database's outbox of
// invitations (see db.EnqueueInvite) through an SMTP server, with retries and backoff, and
// composes the message (plain text and HTML) that tells the user how to finish setup.
package invite

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"
)

// Transport is how mail leaves: an SMTP server, its security and credentials, parsed from
// an smtp:// or smtps:// URL.
type Transport struct {
	host     string // for TLS verification and AUTH
	addr     string // host:port
	implicit bool   // smtps: TLS from the first byte
	loopback bool   // plain text allowed when the server offers no STARTTLS
	user     string
	pass     string
	redacted string // the URL without its password, for logs and errors
	// TLS is the client TLS configuration (tests set RootCAs); ServerName is filled in.
	TLS *tls.Config
	// Timeout bounds a whole SMTP session (connect, hello, TLS, auth, one message).
	Timeout time.Duration
}

// ParseSMTPURL reads --smtp-url: smtp://[user:pass@]host[:587] speaks STARTTLS, which is
// required unless host is a loopback address; smtps://[user:pass@]host[:465] speaks TLS
// from the first byte. Its errors never repeat the password.
func ParseSMTPURL(raw string) (*Transport, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return nil, errors.New("--smtp-url is not a URL: give smtp://user:pass@host:587 or smtps://user:pass@host:465")
	}
	t := &Transport{host: u.Hostname(), Timeout: time.Minute}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		if port == "" {
			port = "587"
		}
	case "smtps":
		t.implicit = true
		if port == "" {
			port = "465"
		}
	default:
		return nil, fmt.Errorf("--smtp-url scheme %q: use smtp:// (STARTTLS) or smtps:// (implicit TLS)", u.Scheme)
	}
	if t.host == "" {
		return nil, errors.New("--smtp-url has no host: give smtp://user:pass@host:587")
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, errors.New("--smtp-url takes no path or query: give smtp://user:pass@host:587")
	}
	if u.User != nil {
		t.user = u.User.Username()
		t.pass, _ = u.User.Password()
	}
	t.addr = net.JoinHostPort(t.host, port)
	t.loopback = isLoopback(t.host)
	t.redacted = u.Redacted()
	return t, nil
}

// String is the URL without its password.
func (t *Transport) String() string { return t.redacted }

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// session is one open, authenticated SMTP connection.
type session struct {
	c    *smtp.Client
	conn net.Conn
	t    *Transport
}

// dial connects, secures and authenticates: everything that can fail before a message is
// at stake, so that a mail server outage costs no setup code.
func (t *Transport) dial(ctx context.Context) (*session, error) {
	d := net.Dialer{Timeout: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(t.Timeout))
	tc := t.tlsConfig()
	if t.implicit {
		tlsConn := tls.Client(conn, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS with %s: %w", t.addr, err)
		}
		conn = tlsConn
	}
	c, err := smtp.NewClient(conn, t.host)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("SMTP greeting from %s: %w", t.addr, err)
	}
	s := &session{c: c, conn: conn, t: t}
	if err := c.Hello(heloName()); err != nil {
		s.abort()
		return nil, fmt.Errorf("SMTP hello to %s: %w", t.addr, err)
	}
	if !t.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tc); err != nil {
				s.abort()
				return nil, fmt.Errorf("STARTTLS with %s: %w", t.addr, err)
			}
		} else if !t.loopback {
			s.abort()
			return nil, fmt.Errorf("%s offers no STARTTLS: scimdesk sends no password or setup code in plain text beyond this machine (use smtps:// if the server speaks TLS from the start)", t.addr)
		}
	}
	if t.user != "" {
		// PlainAuth itself refuses to send the password unencrypted except to localhost.
		if err := c.Auth(smtp.PlainAuth("", t.user, t.pass, t.host)); err != nil {
			s.abort()
			return nil, fmt.Errorf("SMTP authentication as %s at %s: %w", t.user, t.addr, err)
		}
	}
	return s, nil
}

func (t *Transport) tlsConfig() *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.TLS != nil {
		tc = t.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = t.host
	}
	return tc
}

// heloName is the name scimdesk greets the SMTP server with: this machine's, when it looks
// like a host name, since some servers refuse "localhost".
func heloName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// permanentError is the mail server refusing this message for good (a 5xx reply to the
// recipient or the content): retrying would not help.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// isPermanent reports whether err is the server's final refusal of one message.
func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// classify marks a 5xx reply permanent; anything else (4xx, a broken connection) is worth
// retrying.
func classify(step string, err error) error {
	err = fmt.Errorf("%s: %w", step, err)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return &permanentError{err}
	}
	return err
}

// send delivers one message on the open session.
func (s *session) send(from, to string, msg []byte) error {
	s.conn.SetDeadline(time.Now().Add(s.t.Timeout))
	if err := s.c.Mail(from); err != nil {
		// A refused sender is the configuration's fault, not this invitation's: retry.
		return fmt.Errorf("MAIL FROM %s: %w", from, err)
	}
	if err := s.c.Rcpt(to); err != nil {
		s.c.Reset()
		return classify("RCPT TO "+to, err)
	}
	w, err := s.c.Data()
	if err != nil {
		s.c.Reset()
		return classify("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return classify("message", err)
	}
	return nil
}

func (s *session) quit() {
	if err := s.c.Quit(); err != nil {
		s.conn.Close()
	}
}

func (s *session) abort() { s.conn.Close() }
