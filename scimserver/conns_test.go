package scimserver

import (
	"bufio"
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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scimdesk/db"
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
// connections get no grace eviction here, so only idle eviction can make room. It holds
// for certificates from files and from a TLS config (ACME's GetCertificate) alike.
func TestConnCapOverTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	byConfig := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }}
	for name, cfg := range map[string]Config{
		"files":  {TLSCert: certFile, TLSKey: keyFile},
		"config": {TLSConfig: byConfig},
	} {
		t.Run(name, func(t *testing.T) { connCapOverTLS(t, cfg, pool) })
	}
}

func connCapOverTLS(t *testing.T, cfg Config, pool *x509.CertPool) {
	const max = 10
	cfg.MaxConns = max
	srv, _ := startLogged(t, io.Discard, cfg, nil)
	if !srv.TLS() || !strings.HasPrefix(srv.BaseURL(), "https://") {
		t.Fatalf("the server does not say it serves HTTPS: TLS %v, URL %s", srv.TLS(), srv.BaseURL())
	}
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

// trickle opens a connection that sends request headers announcing a 100-byte body, then
// one body byte every 200 ms until the test ends or the server closes it. It reports on
// closed when the server has closed it.
func trickle(t *testing.T, addr, head string, closed chan<- struct{}) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); c.Close() })
	io.WriteString(c, head+"Content-Length: 100\r\n\r\n")
	go func() {
		io.Copy(io.Discard, c)
		closed <- struct{}{}
	}()
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(c, "a"); err != nil {
					return
				}
			}
		}
	}()
}

// TestSlowBodiesDoNotLockOut fills a server with --max-conns 30 with connections that send
// a POST's headers and then its body one byte every 200 ms, a few more waiting in the
// backlog: first without a token (answered 401 without reading the body, which net/http
// then waits for before it can reuse the connection), then with one (the handler reads
// the body). Before the fix every slot stayed busy until the 30 s ReadTimeout, and a new
// client waited that long. Now a fresh /healthz and an authenticated GET must answer
// within 2 s, and the server must stay at or under the cap.
func TestSlowBodiesDoNotLockOut(t *testing.T) {
	const max = 30
	srv, token := startLogged(t, io.Discard, Config{MaxConns: max}, nil)
	srv.conns.bodyGrace = 500 * time.Millisecond
	addr := srv.Addr()
	for _, phase := range []struct{ name, auth string }{
		{"unauthenticated", ""},
		{"authenticated", "Authorization: Bearer " + token + "\r\n"},
	} {
		closed := make(chan struct{}, 2*max)
		for range max + 5 {
			trickle(t, addr, "POST /scim/v2/Users HTTP/1.1\r\nHost: test\r\nContent-Type: application/scim+json\r\n"+phase.auth, closed)
		}
		time.Sleep(time.Second) // every slot is busy with a trickling body by now

		for _, path := range []string{"/healthz", "/scim/v2/Users?count=1"} {
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			start := time.Now()
			res, err := client.Do(req)
			took := time.Since(start)
			if err != nil {
				t.Errorf("%s slow bodies: GET %s: %v after %s", phase.name, path, err, took.Round(time.Millisecond))
				continue
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || took > 2*time.Second {
				t.Errorf("%s slow bodies: GET %s: %d after %s, want 200 within 2s", phase.name, path, res.StatusCode, took.Round(time.Millisecond))
			}
		}
		if n := srv.conns.live(); n > max {
			t.Errorf("%s slow bodies: %d live connections, over the cap of %d", phase.name, n, max)
		}
	}
}

// TestResetStormKeepsServing runs well-behaved clients creating users over keep-alive
// connections while other clients send complete creates and PATCHes and reset their
// connections at once, in a loop, against a server with --max-conns 30. Before the fix,
// each abandoned request still cost a write (its failure's audit event) and held its slot
// until the writer got to it: the slots filled with dead connections, Accept stopped, the
// well-behaved clients' keep-alive connections were evicted as they went idle (failing
// their next POST) and their new connections queued behind thousands of resets. Now every
// well-behaved request must succeed, none slower than 2 s.
func TestResetStormKeepsServing(t *testing.T) {
	srv, token := startLogged(t, io.Discard, Config{MaxConns: 30}, nil)
	addr := srv.Addr()
	req, _ := http.NewRequest("POST", "http://"+addr+"/scim/v2/Users", strings.NewReader(`{"userName":"target@example.com"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if res.StatusCode != 201 || created.ID == "" {
		t.Fatalf("create the PATCH target: %d", res.StatusCode)
	}
	target := created.ID

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var resets atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					continue
				}
				method, path, body := "POST", "/scim/v2/Users", fmt.Sprintf(`{"userName":"rst-%d-%d@example.com","emails":[{"value":"rst-%d-%d@example.com"}]}`, w, i, w, i)
				if i%2 == 1 {
					method, path = "PATCH", "/scim/v2/Users/"+target
					body = fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":%t}}]}`, i%4 == 1)
				}
				fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: application/scim+json\r\nContent-Length: %d\r\n\r\n%s", method, path, token, len(body), body)
				time.Sleep(time.Duration(i%3) * time.Millisecond)
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				resets.Add(1)
			}
		}()
	}

	var mu sync.Mutex
	var ok int
	var failures []string
	var slowest time.Duration
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", "http://"+addr+"/scim/v2/Users",
					strings.NewReader(fmt.Sprintf(`{"userName":"good-%d-%d@example.com"}`, w, i)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/scim+json")
				start := time.Now()
				res, err := client.Do(req)
				took := time.Since(start)
				mu.Lock()
				slowest = max(slowest, took)
				switch {
				case err != nil:
					failures = append(failures, err.Error())
				case res.StatusCode != 201:
					failures = append(failures, res.Status)
				default:
					ok++
				}
				mu.Unlock()
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}
		}()
	}
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d resets; well-behaved: %d created, %d failed, slowest %s", resets.Load(), ok, len(failures), slowest.Round(time.Millisecond))
	if len(failures) > 0 {
		t.Errorf("%d well-behaved requests failed during the reset storm, e.g. %s", len(failures), failures[0])
	}
	if slowest > 2*time.Second {
		t.Errorf("the slowest well-behaved request took %s, want under 2s", slowest.Round(time.Millisecond))
	}
	if ok < 20 {
		t.Errorf("only %d well-behaved requests succeeded in 4 s", ok)
	}
	// A request abandoned before its write ran costs no write: no failure event for it.
	events, err := srv.db.EventsBefore(context.Background(), 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, e := range events {
		if e.Outcome == db.OutcomeFail {
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d failure events in the audit log for requests whose clients hung up", failed)
	}
}

// TestVictimOrder checks the order in which the limiter sacrifices connections at the cap:
// one whose client has gone, then one silent past its grace, then one trickling its body
// past bodyGrace, then an idle one past idleGrace with the fewest requests served (the
// longest idle among equals); a connection busy with a request, or idle only just, never.
func TestVictimOrder(t *testing.T) {
	now := time.Now()
	l := newConnLimiter(nil, 10)
	add := func(state http.ConnState, since time.Duration, f func(c *limitedConn)) *limitedConn {
		c := &limitedConn{l: l, state: state, since: now.Add(-since)}
		if f != nil {
			f(c)
		}
		l.conns[c] = struct{}{}
		return c
	}
	names := map[*limitedConn]string{}
	named := func(name string, c *limitedConn) { names[c] = name }
	named("busy", add(http.StateActive, time.Minute, nil))
	named("just idle, 0 served", add(http.StateIdle, 10*time.Millisecond, nil))
	named("new, within grace", add(http.StateNew, 100*time.Millisecond, nil))
	named("body arriving, within grace", add(http.StateActive, time.Second, func(c *limitedConn) { c.bodySince = now.Add(-time.Second) }))

	if v, retry := l.victim(now); v != nil {
		t.Fatalf("victim %q, want none while every connection is busy or within its grace", names[v])
	} else if retry > l.bodyGrace {
		t.Errorf("retry in %s, want no later than the first grace ends", retry)
	}
	idle := []*limitedConn{
		add(http.StateIdle, 10*time.Second, func(c *limitedConn) { c.served = 50 }),
		add(http.StateIdle, 5*time.Second, func(c *limitedConn) { c.served = 1 }),
		add(http.StateIdle, 8*time.Second, func(c *limitedConn) { c.served = 1 }),
	}
	named("idle 10s, 50 served", idle[0])
	named("idle 5s, 1 served", idle[1])
	named("idle 8s, 1 served", idle[2])
	named("trickling", add(http.StateActive, 5*time.Second, func(c *limitedConn) { c.bodySince = now.Add(-3 * time.Second) }))
	named("silent", add(http.StateNew, 3*time.Second, nil))
	named("gone", add(http.StateActive, time.Second, func(c *limitedConn) { c.gone = true }))

	want := []string{"gone", "silent", "trickling", "idle 8s, 1 served", "idle 5s, 1 served", "idle 10s, 50 served"}
	for _, w := range want {
		v, _ := l.victim(now)
		if v == nil {
			t.Fatalf("no victim, want %q", w)
		}
		if names[v] != w {
			t.Fatalf("victim %q, want %q", names[v], w)
		}
		delete(l.conns, v)
	}
	if v, _ := l.victim(now); v != nil {
		t.Errorf("victim %q, want none", names[v])
	}
}
