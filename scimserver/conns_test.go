package scimserver

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// holdIdle opens n keep-alive connections, makes one request on each and leaves them idle.
func holdIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var held []net.Conn
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		held = append(held, c)
	}
	return held
}

// holdSilent opens n connections that never send a byte.
func holdSilent(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var held []net.Conn
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}
	return held
}

// closedByServer counts the connections the server has closed.
func closedByServer(conns []net.Conn) int {
	n := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			n++
		}
	}
	return n
}

// TestConnCapKeepsServing fills a server with --max-conns 20 with idle keep-alive
// connections, then with connections that never speak, and checks each time that
// /healthz and an authenticated GET still answer 200, that the server never holds more
// than 20 connections, and that it made room by closing the test's held connections.
func TestConnCapKeepsServing(t *testing.T) {
	const max = 20
	srv, token := startLogged(t, io.Discard, Config{MaxConns: max}, nil)
	srv.conns.grace = 200 * time.Millisecond
	addr := srv.Addr()

	check := func(phase string) {
		t.Helper()
		for _, path := range []string{"/healthz", "/scim/v2/Users"} {
			// A fresh client each time: a new connection, as a new client makes.
			client := &http.Client{Timeout: 4 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := client.Do(req)
			if err != nil {
				t.Errorf("%s: GET %s: %v", phase, path, err)
				continue
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("%s: GET %s: %d", phase, path, res.StatusCode)
			}
		}
		if n := srv.conns.live(); n > max {
			t.Errorf("%s: %d live connections, over the cap of %d", phase, n, max)
		}
	}

	idle := holdIdle(t, addr, max)
	check("idle connections at the cap")
	if n := closedByServer(idle); n < 2 {
		t.Errorf("the server closed %d of the idle connections to make room, want at least 2", n)
	}
	for _, c := range idle {
		c.Close()
	}

	silent := holdSilent(t, addr, max)
	time.Sleep(50 * time.Millisecond) // let the server accept them
	check("silent connections at the cap")
	if n := closedByServer(silent); n < 2 {
		t.Errorf("the server closed %d of the silent connections to make room, want at least 2", n)
	}
	for _, c := range silent {
		c.Close()
	}
}

// TestConnCapOverTLS holds idle keep-alive connections over TLS at the cap and checks that
// a new client is still served: the limiter sits under the TLS listener and must still
// learn the connections' states through the *tls.Conn that net/http reports. New
// connections get no grace eviction here, so only idle eviction can make room.
func TestConnCapOverTLS(t *testing.T) {
	const max = 10
	certFile, keyFile, pool := selfSigned(t)
	srv, _ := startLogged(t, io.Discard, Config{MaxConns: max, TLSCert: certFile, TLSKey: keyFile}, nil)
	srv.conns.grace = time.Hour
	tlsConf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	var held []net.Conn
	for range max {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", srv.Addr(), tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		held = append(held, c)
	}
	client := &http.Client{Timeout: 4 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true}}
	res, err := client.Get(srv.BaseURL() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over TLS at the cap: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("GET /healthz over TLS at the cap: %d", res.StatusCode)
	}
	if n := srv.conns.live(); n > max {
		t.Errorf("%d live connections, over the cap of %d", n, max)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and returns its files and a
// pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
