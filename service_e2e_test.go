package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeURLsAreHonest runs `scimdesk serve` on a wildcard address and checks what the
// admin is told: `scim status` never hands out the wildcard as a URL and warns, naming
// --public-url; with --public-url the URL is that one and the warning goes. /readyz and
// /healthz answer, unauthenticated, on a new database whose SCIM is still switched off.
func TestServeURLsAreHonest(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "urls.db")
	_, port, _ := net.SplitHostPort(freeAddr(t))
	for _, tt := range []struct {
		args    []string
		url     string // a fragment of the SCIM URL line
		warning bool
	}{
		{[]string{"--addr", "0.0.0.0:" + port}, ":" + port + "/scim/v2", true},
		{[]string{"--addr", "127.0.0.1:" + port, "--public-url", "https://scim.example.com/"}, " https://scim.example.com/scim/v2", false},
	} {
		cmd := exec.Command(builtBinary(t), append([]string{"serve", "--db", dbPath}, tt.args...)...)
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			deadline := time.Now().Add(15 * time.Second)
			for {
				res, err := http.Get("http://127.0.0.1:" + port + path)
				if err == nil {
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode == 200 && string(body) == "ok\n" {
						break
					}
					err = &net.AddrError{Err: res.Status + " " + string(body)}
				}
				if time.Now().After(deadline) {
					t.Fatalf("serve %v: %s: %v", tt.args, path, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		// The heartbeat, which scim status reads, is written as the server starts.
		var out string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out = run(t, "scim", "status", "--db", dbPath)
			if strings.Contains(out, "Server:   pid") || time.Now().After(deadline) {
				break
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		_, urlLine, _ := strings.Cut(out, "SCIM URL:")
		urlLine, _, _ = strings.Cut(urlLine, "\n")
		if !strings.Contains(urlLine, tt.url) || strings.Contains(urlLine, "[::]") || strings.Contains(urlLine, "0.0.0.0") {
			t.Errorf("serve %v: scim status shows no honest URL (want %q):\n%s", tt.args, tt.url, out)
		}
		if warned := strings.Contains(out, "Warning:") && strings.Contains(out, "--public-url"); warned != tt.warning {
			t.Errorf("serve %v: scim status warns %v, want %v:\n%s", tt.args, warned, tt.warning, out)
		}
	}
}

// TestServeRefusesACMEWithCertificateFiles: two ways to get a certificate at once is an
// error before anything listens, and so is an ACME setting without a domain.
func TestServeRefusesACMEWithCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{
		"--acme-domain scim.example.com --tls-cert " + cert + " --tls-key " + cert: "exclude each other",
		"--acme-email ops@example.com":                                             "--acme-email needs --acme-domain",
	} {
		cmd := exec.Command(builtBinary(t), append([]string{"serve", "--db", filepath.Join(dir, "x.db"), "--addr", "127.0.0.1:0"}, strings.Fields(args)...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("serve %s: %v\n%s\nwant an error saying %q", args, err, out, want)
		}
	}
}
