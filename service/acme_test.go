package service

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"

	"scimdesk/internal/testtool"
	"scimdesk/scimserver"
)

// The domain the test gets a certificate for. Pebble's DNS (challtestsrv) resolves every
// name to 127.0.0.1, where the service listens.
const acmeDomain = "scim.scimdesk.test"

// TestACMEAgainstPebble runs the whole ACME path against Pebble, the ACME test CA, with
// real validation (TLS-ALPN-01 against the SCIM listener): a certificate is issued, the
// SCIM server answers an authenticated HTTPS request verified against Pebble's issuing
// root, and renewal replaces the certificate with a new one (a RenewBefore longer than
// the certificate's life makes autocert renew at once).
//
// With TLS-ALPN-01 out of Pebble's reach (its TLS port closed), autocert falls back to
// HTTP-01 on the --acme-http-addr listener, and the certificate is issued that way.
func TestACMEAgainstPebble(t *testing.T) {
	pebbleBin := buildPebble(t)
	t.Run("tls-alpn-01 and renewal", func(t *testing.T) { pebbleCase(t, pebbleBin, false) })
	t.Run("http-01", func(t *testing.T) { pebbleCase(t, pebbleBin, true) })
}

func pebbleCase(t *testing.T, pebbleBin string, http01 bool) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "scimdesk.db")
	d, token := openDB(t, dbPath)

	// Pebble's own HTTPS (its ACME directory) is served with a certificate from a CA of
	// the test's: the service trusts it through --acme-ca-root, as with a private CA.
	caFile, certFile, keyFile := pebbleTLS(t, dir)
	dnsAddr := freeUDP(t)
	dns, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{dnsAddr}})
	if err != nil {
		t.Fatal(err)
	}
	dns.SetDefaultDNSIPv6("") // A records only: the service listens on 127.0.0.1
	go dns.Run()
	t.Cleanup(dns.Shutdown)

	acmePort, mgmtPort := freeTCP(t), freeTCP(t)
	cfg := Config{
		DB:   d,
		SCIM: scimserver.Config{Addr: "127.0.0.1:0", HeartbeatEvery: time.Hour},
		ACME: ACME{
			Domains:      []string{acmeDomain},
			Email:        "ops@scimdesk.test",
			DirectoryURL: fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort),
			CARoot:       caFile,
			HTTPAddr:     "127.0.0.1:0",
		},
	}
	if !http01 {
		cfg.ACME.RenewBefore = 30 * 24 * time.Hour // longer than Pebble's one-day certificates
	}
	svc, logs, run := listen(t, cfg)
	_, scimPort, _ := net.SplitHostPort(svc.SCIM().Addr())
	_, httpPort, _ := net.SplitHostPort(svc.ACMEHTTPAddr())
	if want := "https://" + acmeDomain + ":" + scimPort + "/scim/v2"; svc.SCIM().SCIMURL() != want {
		t.Errorf("SCIM URL %q, want %q (made from the ACME domain)", svc.SCIM().SCIMURL(), want)
	}

	// Pebble validates at the service's ports: TLS-ALPN-01 on the SCIM listener, HTTP-01
	// on the challenge listener; a closed port instead of the SCIM one leaves only HTTP-01.
	tlsPort := mustAtoi(t, scimPort)
	if http01 {
		tlsPort = freeTCP(t)
	}
	pcfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":             certFile, "privateKey": keyFile,
		"httpPort": mustAtoi(t, httpPort), "tlsPort": tlsPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"retryAfter": map[string]int{"authz": 1, "order": 1},
		"profiles":   map[string]any{"default": map[string]any{"description": "one day", "validityPeriod": 86400}},
	}}
	cfgFile := filepath.Join(dir, "pebble.json")
	raw, _ := json.Marshal(pcfg)
	if err := os.WriteFile(cfgFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pebbleBin, "-config", cfgFile, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	pebbleLog := &testtool.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = pebbleLog, pebbleLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	defer func() {
		if t.Failed() {
			t.Logf("pebble's log:\n%s\nthe service's log:\n%s", pebbleLog, logs)
		}
	}()

	ca := pool(t, caFile)
	mgmt := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca}}}
	// The service asks for its certificate as it starts: start it once Pebble answers.
	waitFor(t, ctx, "Pebble's ACME directory", func() error {
		res, err := mgmt.Get(fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort))
		if err != nil {
			return err
		}
		res.Body.Close()
		return nil
	})
	run()
	var root []byte
	waitFor(t, ctx, "Pebble's issuing root", func() error {
		res, err := mgmt.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		root, err = io.ReadAll(res.Body)
		return err
	})
	issuing := x509.NewCertPool()
	if !issuing.AppendCertsFromPEM(root) {
		t.Fatalf("Pebble's /roots/0 is not PEM: %q", root)
	}

	// A real HTTPS request, to the ACME domain, verified against Pebble's root only.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: issuing},
		DisableKeepAlives: true, // every request a new handshake, to see renewed certificates
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, svc.SCIM().Addr())
		},
	}}
	serial := func() (*big.Int, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", svc.SCIM().SCIMURL()+"/ServiceProviderConfig", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(string(body), "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig") {
			return nil, fmt.Errorf("status %d: %s", res.StatusCode, body)
		}
		leaf := res.TLS.PeerCertificates[0]
		if err := leaf.VerifyHostname(acmeDomain); err != nil {
			return nil, err
		}
		return leaf.SerialNumber, nil
	}
	var first *big.Int
	waitFor(t, ctx, "an HTTPS answer with Pebble's certificate", func() (err error) {
		first, err = serial()
		return err
	})
	if http01 {
		if log := pebbleLog.String(); !strings.Contains(log, "Attempting to validate w/ HTTP") || !strings.Contains(log, "set VALID") {
			t.Errorf("Pebble did not validate by HTTP-01:\n%s", log)
		}
		return
	}
	waitFor(t, ctx, "a renewed certificate (a new serial)", func() error {
		s, err := serial()
		if err != nil {
			return err
		}
		if s.Cmp(first) == 0 {
			return fmt.Errorf("still serial %x", s)
		}
		return nil
	})

	// The cache beside the database holds the account and certificate keys: private.
	cache := CacheDir(dbPath)
	if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("ACME cache %s: %v, mode %v, want 0700", cache, err, fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) < 2 {
		t.Errorf("ACME cache holds %d files, want the account key and the certificate", len(entries))
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("ACME cache file %s has mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}

	// The HTTP-01 listener sends everything that is no challenge to HTTPS.
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+svc.ACMEHTTPAddr()+"/scim/v2/Users", nil)
	req.Host = acmeDomain
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode/100 != 3 || !strings.HasPrefix(loc, "https://"+acmeDomain+"/scim/v2/Users") {
		t.Errorf("HTTP-01 listener answered %d, Location %q: want a redirect to HTTPS", res.StatusCode, loc)
	}
}

// TestACMEFlagsRefused: settings that cannot work together get a clear error at once.
func TestACMEFlagsRefused(t *testing.T) {
	d, _ := openDB(t, tempDB(t))
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"acme and certificate files", Config{SCIM: scimserver.Config{TLSCert: "c.pem", TLSKey: "k.pem"}, ACME: ACME{Domains: []string{"scim.example.com"}}}, "exclude each other"},
		{"email without a domain", Config{ACME: ACME{Email: "ops@example.com"}}, "--acme-email needs --acme-domain"},
		{"http-01 without a domain", Config{ACME: ACME{HTTPAddr: ":80"}}, "--acme-http-addr needs --acme-domain"},
		{"a URL as the domain", Config{ACME: ACME{Domains: []string{"https://scim.example.com"}}}, "give a DNS name"},
		{"a wildcard domain", Config{ACME: ACME{Domains: []string{"*.example.com"}}}, "give a DNS name"},
		{"a bad email", Config{ACME: ACME{Domains: []string{"scim.example.com"}, Email: "ops"}}, "not an email address"},
		{"a missing CA root", Config{ACME: ACME{Domains: []string{"scim.example.com"}, CARoot: filepath.Join(t.TempDir(), "none.pem")}}, "--acme-ca-root"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.DB = d
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// buildPebble builds Pebble from the module's pinned tool dependency.
func buildPebble(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		testtool.SkipUnlessCI(t, "the go command is not on PATH, so Pebble (the ACME test server) cannot be built")
	}
	bin := filepath.Join(t.TempDir(), "pebble")
	out, err := exec.Command(gobin, "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble").CombinedOutput()
	if err != nil {
		testtool.SkipUnlessCI(t, fmt.Sprintf("cannot build Pebble (the ACME test server; is the module proxy reachable?): %v\n%s", err, out))
	}
	return bin
}

// pebbleTLS makes a CA and a certificate for 127.0.0.1 signed by it, for Pebble's HTTPS.
func pebbleTLS(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ACME server CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("acme-ca.pem", "CERTIFICATE", caDER), write("pebble-cert.pem", "CERTIFICATE", der), write("pebble-key.pem", "PRIVATE KEY", keyDER)
}

func pool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return p
}

func freeTCP(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func freeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor retries f until it succeeds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, f func() error) {
	t.Helper()
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waited in vain for %s: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
