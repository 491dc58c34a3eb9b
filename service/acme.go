package service

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACME obtains and renews the SCIM server's certificate from an ACME CA (Let's Encrypt,
// or an organisation's own, such as step-ca), with TLS-ALPN-01 on the TLS listener, and
// HTTP-01 too when HTTPAddr is set.
type ACME struct {
	// Domains are the DNS names to get a certificate for; none turns ACME off. The first
	// is the one the SCIM URL is made from.
	Domains []string
	// Email is the contact the CA writes to about expiring certificates (optional).
	Email string
	// DirectoryURL is the CA's ACME directory (default: Let's Encrypt production).
	DirectoryURL string
	// CARoot is a PEM file of CA certificates to trust, besides the system's, when talking
	// to the ACME server (a private CA's directory served over its own TLS).
	CARoot string
	// HTTPAddr is where to answer HTTP-01 challenges (":80"); other requests there are sent
	// to HTTPS. Empty: TLS-ALPN-01 only, on the TLS listener (port 443 must reach it).
	HTTPAddr string
	// CacheDir keeps the account key and certificates (default: "acme" beside the
	// database), the directory 0700 and its files 0600.
	CacheDir string
	// RenewBefore is how long before expiry to renew (default: autocert's, a third of the
	// certificate's life, at most 30 days).
	RenewBefore time.Duration
}

func (a ACME) enabled() bool { return len(a.Domains) > 0 }

func (a ACME) directory() string {
	if a.DirectoryURL != "" {
		return a.DirectoryURL
	}
	return acme.LetsEncryptURL
}

// unused refuses ACME settings given without a domain: they would do nothing, silently.
func (a ACME) unused() error {
	for flag, v := range map[string]string{"--acme-email": a.Email, "--acme-directory": a.DirectoryURL,
		"--acme-ca-root": a.CARoot, "--acme-http-addr": a.HTTPAddr} {
		if v != "" {
			return fmt.Errorf("%s needs --acme-domain: name the domain to get a certificate for", flag)
		}
	}
	return nil
}

// CacheDir is where ACME keeps its account key and certificates for the database at
// dbPath, unless ACME.CacheDir says otherwise.
func CacheDir(dbPath string) string { return filepath.Join(filepath.Dir(dbPath), "acme") }

// newACME makes the certificate manager and the TLS config that serves its certificates.
func newACME(a ACME, dbPath string) (*autocert.Manager, *tls.Config, error) {
	domains := a.Domains
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		return nil, nil, fmt.Errorf("--acme-email %q is not an email address", a.Email)
	}
	client := &acme.Client{DirectoryURL: a.directory(), UserAgent: "scimdesk"}
	if a.CARoot != "" {
		hc, err := trustingClient(a.CARoot)
		if err != nil {
			return nil, nil, err
		}
		client.HTTPClient = hc
	}
	dir := a.CacheDir
	if dir == "" {
		dir = CacheDir(dbPath)
	}
	// The cache holds the account key and the certificates' private keys.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create the ACME cache directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("make the ACME cache directory private: %w", err)
	}
	m := &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       autocert.DirCache(dir),
		HostPolicy:  autocert.HostWhitelist(domains...),
		Email:       a.Email,
		Client:      client,
		RenewBefore: a.RenewBefore,
	}
	first := domains[0]
	tc := &tls.Config{
		// A client that sends no server name (a probe by IP address) gets the first
		// domain's certificate rather than a handshake failure.
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hello.ServerName == "" {
				h := *hello
				h.ServerName = first
				hello = &h
			}
			return m.GetCertificate(hello)
		},
		// HTTP/1.1 as with certificate files; acme-tls/1 answers TLS-ALPN-01 challenges.
		NextProtos: []string{"http/1.1", acme.ALPNProto},
		MinVersion: tls.VersionTLS12,
	}
	return m, tc, nil
}

// obtain gets each domain's certificate (from the cache, else from the CA) at start,
// rather than during the identity provider's first handshake, and says in the log whether
// it could: a DNS record or a firewall in the way shows at once, not as Okta's failed test.
func (s *Service) obtain(ctx context.Context) {
	for _, d := range s.cfg.ACME.Domains {
		if ctx.Err() != nil {
			return
		}
		// A hello from a client that takes ECDSA, as every current one does: autocert then
		// obtains the ECDSA certificate that such clients will be served.
		cert, err := s.acme.GetCertificate(&tls.ClientHelloInfo{
			ServerName:        d,
			CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			SupportedCurves:   []tls.CurveID{tls.CurveP256},
			SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		})
		if err != nil {
			s.log.Error("could not obtain a certificate by ACME: check that the name resolves to this machine and that port 443 (or --acme-http-addr's) is reachable from the internet", "domain", d, "err", err)
			continue
		}
		if cert.Leaf != nil {
			s.log.Info("certificate ready", "domain", d, "expires", cert.Leaf.NotAfter, "issuer", cert.Leaf.Issuer.String())
		}
	}
}

// checkDomains returns the domains in the form certificates name them, or why one is
// not a name ACME can issue for.
func (a ACME) checkDomains() ([]string, error) {
	out := make([]string, 0, len(a.Domains))
	for _, d := range a.Domains {
		name, err := checkDomain(d)
		if err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, nil
}

// checkDomain accepts a DNS name ACME can issue for by HTTP-01 or TLS-ALPN-01.
func checkDomain(d string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	bad := name == "" || !strings.Contains(name, ".") || strings.HasPrefix(name, ".") || strings.Contains(name, "..")
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			bad = true
		}
	}
	if bad {
		return "", fmt.Errorf("--acme-domain %q: give a DNS name such as scim.example.com (no scheme, port, path or wildcard)", d)
	}
	return name, nil
}

// trustingClient is an HTTP client that trusts the system's roots and those in file.
func trustingClient(file string) (*http.Client, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--acme-ca-root: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("--acme-ca-root " + file + ": no PEM certificate in it")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: time.Minute}, nil
}
