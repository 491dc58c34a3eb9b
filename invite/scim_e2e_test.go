package invite_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testsmtp"
	"scimdesk/invite"
	"scimdesk/scimserver"
)

// With --invite auto, a user the identity provider creates through a real SCIM server gets
// an invitation at once (the server kicks the worker after its commit), and so does a
// user created inactive once it is activated; the code redeems and the command names the
// server's own URL.
func TestAutoInviteOnSCIMCreate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := openDB(t)
	if err := d.SetSCIMEnabled(ctx, true, "test"); err != nil {
		t.Fatal(err)
	}
	_, token, err := d.CreateToken(ctx, "okta", time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	mailSrv := testsmtp.Start(t, testsmtp.Options{})
	var m *invite.Mailer
	srv := scimserver.New(d, scimserver.Config{Addr: "127.0.0.1:0", InviteAuto: true, Invited: func() { m.Kick() }})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	m, err = invite.New(invite.Config{DB: d, SMTPURL: mailSrv.URL(), From: "scim@example.com", ServerURL: srv.BaseURL,
		Poll: time.Hour}) // only the server's kick can make it send within the test
	if err != nil {
		t.Fatal(err)
	}
	m.Transport().TLS = &tls.Config{RootCAs: mailSrv.Roots}
	served, mailed := make(chan error, 1), make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	go func() { mailed <- m.Run(ctx) }()
	defer func() { cancel(); <-served; <-mailed }()

	scim := func(method, path, body string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.SCIMURL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
	}
	check := func(email string) {
		t.Helper()
		got := mailSrv.Next(t, 30*time.Second)
		if len(got.To) != 1 || got.To[0] != email {
			t.Fatalf("mail went to %v, want %s", got.To, email)
		}
		p := parse(t, got.Data)
		if !strings.Contains(p.text, "scimdesk setup --server "+srv.BaseURL()) {
			t.Fatalf("the message lacks the server's setup command:\n%s", p.text)
		}
		if !strings.Contains(p.text, "identity provider") {
			t.Errorf("the message does not say the identity provider invited them:\n%s", p.text)
		}
		if _, err := d.CheckSetupCode(ctx, email, codeShape.FindString(p.text), db.PurposeSetup, time.Now()); err != nil {
			t.Fatalf("the code mailed to %s does not redeem: %v", email, err)
		}
	}

	scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","active":true}`, http.StatusCreated)
	check("ada@example.com")

	scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob","active":false,
		"emails":[{"value":"bob@example.com","primary":true}]}`, http.StatusCreated)
	bob, err := d.UserByEmail(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.LatestInvite(ctx, bob.ID); err == nil {
		t.Fatal("a user created inactive was invited")
	}
	scim("PATCH", "/Users/"+bob.ID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"active","value":true}]}`, http.StatusOK)
	check("bob@example.com")
}
