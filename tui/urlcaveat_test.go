package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/scimserver"
)

// TestProvisioningWarnsOfAnUnreachableURL: a server on loopback gets a warning on tab 1
// that names --public-url; one with a public URL gets none.
func TestProvisioningWarnsOfAnUnreachableURL(t *testing.T) {
	for _, tt := range []struct {
		publicURL string
		warn      bool
	}{
		{"", true},
		{"https://scim.example.com", false},
	} {
		d := testDB(t)
		srv := scimserver.New(d, scimserver.Config{Addr: "127.0.0.1:0", PublicURL: tt.publicURL, HeartbeatEvery: time.Hour})
		if err := srv.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { srv.Serve(ctx); close(done) }()
		dp := testDeps(t, d, Options{Server: srv})
		dr := driveTab(t, newProvisioning(dp), 200, 30)
		dr.do(poll(dp, 0, true))
		v := plain(dr.waitText(srv.SCIMURL()))
		warned := strings.Contains(v, "loopback") && strings.Contains(v, "--public-url")
		if warned != tt.warn {
			t.Errorf("public URL %q: warned %v, want %v:\n%s", tt.publicURL, warned, tt.warn, v)
		}
		cancel()
		<-done
	}
}

// TestSetupCodeWarnsOfAnUnreachableURL: the command handed to a user names a loopback
// server; the screen says so, names --public-url, and still fits the users tab.
func TestSetupCodeWarnsOfAnUnreachableURL(t *testing.T) {
	d := testDB(t)
	srv := startServer(t, d)
	dp := testDeps(t, d, Options{Server: srv})
	s := &setupCode{d: dp}
	s.show(setupCodeMsg{Code: db.SetupCode{UserName: "ada@example.com", Expires: time.Now().Add(time.Hour)}, Secret: "ABCDE-FGHIJ"},
		scimURL(dp, nil), urlCaveat(dp, nil))
	v := plain(s.view(80))
	joined := strings.ReplaceAll(v, "\n", "") // the warning wraps, at a hyphen too
	if !strings.Contains(v, "scimdesk setup --server "+srv.BaseURL()) || !strings.Contains(joined, "loopback") || !strings.Contains(joined, "--public-url") {
		t.Errorf("the setup-code screen does not warn of its loopback URL:\n%s", v)
	}
	if n := strings.Count(v, "\n") + 1; n > 20 {
		t.Errorf("the setup-code screen takes %d lines at 80 columns; the users tab has 20:\n%s", n, v)
	}
}
