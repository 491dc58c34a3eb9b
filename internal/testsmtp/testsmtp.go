// Package testsmtp runs a real SMTP server (github.com/emersion/go-smtp) on 127.0.0.1 for
// tests: STARTTLS with a certificate of its own, PLAIN login required after TLS, and every
// message it accepts recorded for the test to read. Only tests import it.
package testsmtp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the server accepted.
type Mail struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool   // the message came over TLS
	AuthUser string // who logged in
}

// Server is the running SMTP server.
type Server struct {
	// Addr is where it listens (127.0.0.1:port).
	Addr string
	// Roots trusts the server's certificate (valid for 127.0.0.1 and localhost).
	Roots *x509.CertPool
	// User and Pass are the only credentials it accepts.
	User, Pass string

	srv   *smtp.Server
	mails chan Mail
	mu    sync.Mutex
	// RejectRcpt, if set, answers RCPT TO: a non-nil *smtp.SMTPError is sent as is.
	RejectRcpt func(to string) error
}

// Options say how the server runs.
type Options struct {
	// Addr is where to listen ("" for 127.0.0.1:0).
	Addr string
	// Pass is the password of user "mailer" ("" for a random one).
	Pass string
	// NoTLS offers no STARTTLS (and then accepts a login in plain text).
	NoTLS bool
}

// Start serves until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Pass == "" {
		o.Pass = "smtp-pass-" + rand.Text()
	}
	cert, roots := selfSigned(t)
	s := &Server{Roots: roots, User: "mailer", Pass: o.Pass, mails: make(chan Mail, 100)}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "localhost"
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	if o.NoTLS {
		s.srv.TLSConfig, s.srv.AllowInsecureAuth = nil, true
	}
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// URL is the --smtp-url of this server, with its credentials.
func (s *Server) URL() string { return "smtp://" + s.User + ":" + s.Pass + "@" + s.Addr }

// Close stops the server (a mail server outage).
func (s *Server) Close() { s.srv.Close() }

// Next waits up to wait for the next message; it fails the test when none comes.
func (s *Server) Next(t testing.TB, wait time.Duration) Mail {
	t.Helper()
	select {
	case m := <-s.mails:
		return m
	case <-time.After(wait):
		t.Fatalf("no mail arrived at %s within %s", s.Addr, wait)
		return Mail{}
	}
}

// Pending is how many accepted messages no test has read yet.
func (s *Server) Pending() int { return len(s.mails) }

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, c: c}, nil
}

type session struct {
	s    *Server
	c    *smtp.Conn
	user string
	m    Mail
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.User || pass != ss.s.Pass {
			return errors.New("invalid credentials")
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.m = Mail{From: from}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := ss.s.RejectRcpt; f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.m.To = append(ss.m.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	_, ss.m.TLS = ss.c.TLSConnectionState()
	ss.m.Data, ss.m.AuthUser = b.Bytes(), ss.user
	ss.s.mails <- ss.m
	ss.m = Mail{}
	return nil
}

func (ss *session) Reset()        { ss.m = Mail{} }
func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "testsmtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
