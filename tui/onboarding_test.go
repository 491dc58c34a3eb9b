package tui

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testsmtp"
	"scimdesk/invite"
)

// TestFlowOnboardingState follows pending users on the console's screen, over a real
// database, SCIM server, mail worker and SMTP server: tab 1 counts who has nothing out, a
// code out or an expired one; m there emails codes to those with nothing out (after a
// question); the Users tab then shows the selected user's invitation failing while the
// mail server is down (attempts, the error) and emailed once it is back, with the code's
// expiry on the user's page; a code handed over by hand names where to get scimdesk.
func TestFlowOnboardingState(t *testing.T) {
	w := newFlowWorld(t)
	ctx := context.Background()
	insertUser(t, w.d, "id-carol", "carol", "Carol, no address") // userName is no email address
	insertUser(t, w.d, "id-dave", "dave@example.com", "Dave")
	insertUser(t, w.d, "id-erin", "erin@example.com", "Erin")
	insertUser(t, w.d, "id-bob", "bob@example.com", "Bob")
	insertUser(t, w.d, "id-alice", "alice@example.com", "Alice") // newest: the first row
	w.code("id-dave", db.PurposeSetup)
	erinCode := w.code("id-erin", db.PurposeSetup)
	for range db.SetupCodeAttempts { // wrong emails typed with erin's code wear it out
		w.d.CheckSetupCode(ctx, "mallory@example.com", erinCode, db.PurposeSetup, time.Now())
	}

	dp := testDeps(t, w.d, Options{Server: w.srv, DownloadURL: "https://downloads.example.com/scimdesk"})
	s := startTerm(t, newApp(dp), 160, 40)
	s.waitScreen("Pending   5 users: 4 with nothing out · 1 code out · 1 expired · m emails them codes")

	s.keys("m")
	s.waitScreen("Email setup codes to 4 pending users with nothing out?")
	s.keys("y")
	s.waitScreen("3 invitations queued", "1 pending user has no email address")
	s.waitScreen("5 users: 1 with nothing out · 1 code out · 1 expired · 3 invitations queued")
	if inv, err := w.d.LatestInvite(ctx, "id-carol"); err == nil {
		t.Fatalf("carol, without an address, got an invitation: %+v", inv)
	}

	// The mail server is down: the worker records the failure; the Users tab shows it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m, err := invite.New(invite.Config{DB: w.d, SMTPURL: "smtp://mailer:console-pass@" + addr, From: "it@example.com",
		ServerURL: w.srv.BaseURL})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if n, err := m.DeliverDue(ctx, now); n != 0 || err == nil {
		t.Fatalf("DeliverDue with the mail server down = %d, %v", n, err)
	}
	s.keys("3")
	s.waitScreen("row 1 of 5 · no setup code yet · i issues one · invitation not sent yet (1 attempt)")
	s.keys("enter")
	s.waitScreen("Invitation    not sent yet to alice@example.com: ", "connection refused", "1 attempt, next in ")
	s.keys("esc")

	// Back up: the invitations go out, each with a fresh code.
	mail := testsmtp.Start(t, testsmtp.Options{Addr: addr, Pass: "console-pass"})
	m.Transport().TLS = &tls.Config{RootCAs: mail.Roots}
	if n, err := m.DeliverDue(ctx, now.Add(invite.RetryBase)); n != 3 || err != nil {
		t.Fatalf("DeliverDue with the mail server back = %d, %v; want 3 sent", n, err)
	}
	s.waitScreen("row 1 of 5 · setup code live: 5 tries left, expires in 24h · invitation emailed ")
	s.keys("enter")
	code, _ := w.d.SetupCodeOf(ctx, "id-alice")
	s.waitScreen("Invitation    emailed to alice@example.com ", "(attempt 2); its code expires "+stamp(code.Expires))
	s.keys("esc", "1")
	s.waitScreen("5 users: 1 with nothing out · 4 codes out · 0 expired")

	// Carol, selected on the Users tab, cannot be emailed: the console says why.
	s.keys("3", "G", "m")
	s.waitScreen("carol has no email address: issue a setup code (i) and hand it over instead.")
	// So the admin does, and the code's screen says where carol gets scimdesk.
	s.keys("i", "y")
	s.waitScreen("Setup code for carol", "no scimdesk yet? https://downloads.example.com/scimdesk")
}
