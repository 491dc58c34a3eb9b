package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"scimdesk/db"
	"scimdesk/termsafe"
)

// healthCmd is a probe for container HEALTHCHECKs and monitors that run on the server's
// machine: it finds the server of this database by its heartbeat and asks it /healthz
// (or /readyz), so it needs no address, scheme or certificate name of its own.
type healthCmd struct {
	Ready   bool          `help:"Ask /readyz (the database is writable, the disk not full) instead of /healthz (alive)."`
	URL     string        `help:"Ask this URL instead of the server found by its heartbeat, e.g. http://127.0.0.1:8080/healthz." placeholder:"URL"`
	Timeout time.Duration `help:"Give up after this long." default:"5s"`
}

func (c *healthCmd) Run(ctx context.Context, g *Globals) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	target, serverName := c.URL, ""
	if target == "" {
		// The heartbeat alone, read only: a probe every few seconds must not open the
		// database as an admin command does (pools, a writer, the serving lock).
		dbPath, err := g.path()
		if err != nil {
			return err
		}
		if !db.IsPostgres(dbPath) {
			if err := isDatabase(dbPath); err != nil {
				return err
			}
		}
		beats, err := db.ReadHeartbeatFile(ctx, dbPath)
		// On PostgreSQL, Serving prefers an instance on this machine: the probe of a host
		// asks its own instance.
		h, live := db.Serving(beats, time.Now())
		if err != nil || !live {
			return fmt.Errorf("unhealthy: no server is serving %s (no fresh heartbeat)", db.Redact(dbPath))
		}
		probe := "/healthz"
		if c.Ready {
			probe = "/readyz"
		}
		target, serverName = probeURL(h, probe)
	}
	client := &http.Client{Transport: &http.Transport{
		// The probe asks the server process it found on this machine whether it answers;
		// it sends nothing secret, and the certificate is for the identity provider to
		// check (with the DNS name the probe does not reach it by). SNI is still sent, as
		// an ACME certificate is chosen by it.
		TLSClientConfig: &tls.Config{ServerName: serverName, InsecureSkipVerify: true},
		Proxy:           nil,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("--url %q: %w", c.URL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	text := strings.TrimSpace(termsafe.Lines(string(body)))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s: %s", target, resp.Status, text)
	}
	fmt.Printf("healthy: %s answered %s\n", target, text)
	return nil
}

// probeURL is where to reach the server of heartbeat h on this machine: its own listen
// address (a wildcard one through loopback), the scheme it serves, and the host name of
// its public URL for SNI.
func probeURL(h db.Heartbeat, path string) (target, serverName string) {
	host, port, err := net.SplitHostPort(h.Addr)
	if err != nil {
		host, port = "127.0.0.1", h.Addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if h.TLS {
		scheme = "https"
	}
	if u, err := url.Parse(h.PublicURL); err == nil && net.ParseIP(u.Hostname()) == nil {
		serverName = u.Hostname()
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path, serverName
}
