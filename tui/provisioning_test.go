package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
)

func TestProvisioningToggleSCIM(t *testing.T) {
	d := testDB(t)
	srv := startServer(t, d)
	dp := testDeps(t, d, Options{Server: srv})
	p := newProvisioning(dp)
	dr := driveTab(t, p, 80, 20)
	dr.do(poll(dp, 0, true))
	dr.waitText("○ disabled", srv.SCIMURL(), "listening on "+srv.Addr())

	dr.key("e") // enabling needs no confirmation
	dr.waitText("● enabled")
	if on, _ := d.SCIMEnabled(context.Background()); !on {
		t.Fatal("SCIM is not enabled in the database")
	}

	dr.key("e") // disabling asks first
	dr.waitText("Disable SCIM provisioning?", "y yes")
	if !p.Capturing() {
		t.Error("the question does not capture keys: q would quit instead of answering")
	}
	dr.key("n")
	dr.waitText("● enabled")
	if on, _ := d.SCIMEnabled(context.Background()); !on {
		t.Fatal("answering no disabled SCIM")
	}

	dr.key("e", "y")
	dr.waitText("○ disabled")
	if on, _ := d.SCIMEnabled(context.Background()); on {
		t.Fatal("SCIM is still enabled in the database")
	}
	ev, err := d.EventsBefore(context.Background(), 0, 1)
	if err != nil || len(ev) != 1 || ev[0].Kind != "scim.disable" || ev[0].Agent != "admin:test" {
		t.Fatalf("the audit log does not record the admin's disable: %+v %v", ev, err)
	}
}

func TestProvisioningCopyURL(t *testing.T) {
	d := testDB(t)
	srv := startServer(t, d)
	dp := testDeps(t, d, Options{Server: srv})
	dr := driveTab(t, newProvisioning(dp), 80, 20)
	dr.key("c")
	dr.waitClipboard(srv.SCIMURL())
	dr.waitStatus("Sent the SCIM URL to your terminal's clipboard (OSC 52); not confirmed.")
}

func TestProvisioningShowsRequestsAndChecklist(t *testing.T) {
	d := testDB(t)
	dp := testDeps(t, d, Options{AttachedPID: 4242})
	ctx := context.Background()
	now := time.Now()
	err := d.WriteHeartbeat(ctx, db.Heartbeat{Instance: "i4242", PID: 4242, Addr: "0.0.0.0:8443", TLS: true, PublicURL: "https://scim.example.com",
		Started: now, Beat: now, Requests: 7, LastRequest: now, LastUserAgent: "Okta SCIM Client 1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.CreateToken(ctx, "okta", 0, "test"); err != nil {
		t.Fatal(err)
	}
	p := newProvisioning(dp)
	dr := driveTab(t, p, 100, 24)
	dr.do(poll(dp, 0, true))
	dr.do(loadTokens(dp))
	v := dr.waitText("attached to the server running in pid 4242", "https://scim.example.com/scim/v2", "7 served",
		"Okta", "1 usable token")
	for _, want := range []string{"Unique identifier field for users: email", "Push New Users", "Push Profile Updates",
		"Push Groups", "HTTP Header", "Create Users", "Update User Attributes", "Deactivate Users"} {
		if !strings.Contains(plain(v), want) {
			t.Errorf("the Okta checklist lacks %q", want)
		}
	}
	if strings.Contains(plain(v), "Okta needs HTTPS") {
		t.Error("warns about HTTPS although the server speaks it")
	}
	dr.key("c")
	dr.waitClipboard("https://scim.example.com/scim/v2")
}

func TestProvisioningServerError(t *testing.T) {
	d := testDB(t)
	dp := testDeps(t, d, Options{ServerErr: errors.New("cannot listen on 127.0.0.1:8080: address already in use (is another server using this port? choose another with --addr)")})
	dr := driveTab(t, newProvisioning(dp), 80, 20)
	dr.do(poll(dp, 0, true))
	dr.waitText("✗ not running: cannot listen on 127.0.0.1:8080", "--addr", "unknown while no server runs")
	dr.key("c")
	dr.waitStatus("No SCIM URL to copy")
	if dr.clipboard != "" {
		t.Error("copied a URL although no server runs")
	}
}

func TestProvisioningAttachedServerGone(t *testing.T) {
	d := testDB(t)
	pid := os.Getpid() + 100000
	dp := testDeps(t, d, Options{AttachedPID: pid})
	dr := driveTab(t, newProvisioning(dp), 200, 20)
	dr.do(poll(dp, 0, true))
	// The other process may have been a console as well as `scimdesk serve`: the line
	// names neither as the one to start again.
	v := plain(dr.waitText(fmt.Sprintf("the scimdesk serving this database (pid %d) has stopped: restart `scimdesk` or `scimdesk serve` to serve it again", pid)))
	if strings.Contains(v, "start `scimdesk serve` again") {
		t.Errorf("the line assumes the other process was `scimdesk serve`:\n%s", v)
	}
}

// A server whose beat went stale while its process still runs may hang: the line says
// so, where one whose process is gone has stopped (above).
func TestProvisioningAttachedServerHung(t *testing.T) {
	d := testDB(t)
	pid := os.Getppid() // a process that runs (the one that started the test), not this one
	old := time.Now().Add(-time.Minute)
	if err := d.WriteHeartbeat(context.Background(), db.Heartbeat{Instance: "hung", PID: pid, Addr: "127.0.0.1:1", Started: old, Beat: old}); err != nil {
		t.Fatal(err)
	}
	dp := testDeps(t, d, Options{AttachedPID: pid})
	dr := driveTab(t, newProvisioning(dp), 200, 20)
	dr.do(poll(dp, 0, true))
	dr.waitText(fmt.Sprintf("the scimdesk serving this database (pid %d) has written no heartbeat", pid), "restart `scimdesk` or `scimdesk serve`")
}

// At 80x24 with every warning shown, tab 1 is taller than the screen: its last line says
// how much is below instead of cutting the Entra ID steps off unseen, and j/G scroll to them.
func TestProvisioningScrollsOnASmallTerminal(t *testing.T) {
	d := testDB(t)
	srv := startServer(t, d)
	s := startTerm(t, newApp(testDeps(t, d, Options{Server: srv})), 80, 24)
	scr := s.waitScreen("SCIM URL", "more lines (j, pgdn)")
	if strings.Contains(scr, "Entra ID: Provisioning") {
		t.Fatalf("the Entra line shows although the page does not fit:\n%s", scr)
	}
	s.keys("G")
	scr = s.waitScreen("Entra ID: Provisioning", "back to the top")
	if strings.Contains(scr, "SCIM URL  http") {
		t.Errorf("scrolled to the end, the top still shows:\n%s", scr)
	}
	s.keys("g")
	s.waitScreen("SCIM URL", "more lines (j, pgdn)")

	// A terminal tall enough shows it all, with no scroll line.
	s = startTerm(t, newApp(testDeps(t, d, Options{Server: srv})), 100, 40)
	scr = s.waitScreen("SCIM URL", "Entra ID: Provisioning")
	if strings.Contains(scr, "more line") || strings.Contains(scr, "back to the top") {
		t.Errorf("a page that fits has a scroll line:\n%s", scr)
	}
}
