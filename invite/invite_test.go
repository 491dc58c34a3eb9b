package invite_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"scimdesk/db"
	"scimdesk/internal/testsmtp"
	"scimdesk/invite"
)

const serverURL = "https://scim.example.com"

func openDB(t testing.TB) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "invite.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func addPending(t testing.TB, d *db.DB, userName, email string) db.User {
	t.Helper()
	u := db.User{ID: "u-" + userName, UserName: userName, Email: email, Active: true, Doc: []byte(`{}`)}
	if err := d.Write(context.Background(), func(tx *db.Tx) error { return tx.InsertUser(context.Background(), &u) }); err != nil {
		t.Fatal(err)
	}
	return u
}

func newMailer(t testing.TB, d *db.DB, smtpURL string, roots *testsmtp.Server) *invite.Mailer {
	t.Helper()
	m, err := invite.New(invite.Config{DB: d, SMTPURL: smtpURL, From: "scimdesk <scim@example.com>",
		ServerURL: func() string { return serverURL }, DownloadURL: "https://downloads.example.com/scimdesk"})
	if err != nil {
		t.Fatal(err)
	}
	m.Transport().TLS = &tls.Config{RootCAs: roots.Roots}
	return m
}

// parsed is a received invitation, its parts decoded.
type parsed struct {
	header     mail.Header
	text, html string
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a mail message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	p := parsed{header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // undoes the quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(part)
		switch ct := part.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			p.text = string(body)
		case strings.HasPrefix(ct, "text/html"):
			p.html = string(body)
		}
	}
	if p.text == "" || p.html == "" {
		t.Fatalf("want a plain text and an HTML part; got text %q, html %q", p.text, p.html)
	}
	return p
}

var codeShape = regexp.MustCompile(`[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}`)

// The invitation arrives over STARTTLS with a code that really redeems, the exact setup
// command, where to get scimdesk and when the code expires; nothing else secret is in it.
func TestInvitationArrives(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	ada := addPending(t, d, "ada@example.com", "")
	_, tokenSecret, err := d.CreateToken(ctx, "okta", time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.InviteUser(ctx, ada.ID, "cli:grace"); err != nil {
		t.Fatal(err)
	}
	srv := testsmtp.Start(t, testsmtp.Options{})
	m := newMailer(t, d, srv.URL(), srv)
	if n, err := m.DeliverDue(ctx, time.Now()); n != 1 || err != nil {
		t.Fatalf("DeliverDue = %d, %v; want 1 sent", n, err)
	}
	got := srv.Next(t, 10*time.Second)
	if !got.TLS || got.AuthUser != "mailer" || got.From != "scim@example.com" || len(got.To) != 1 || got.To[0] != "ada@example.com" {
		t.Fatalf("envelope: TLS %v, user %q, from %q, to %v", got.TLS, got.AuthUser, got.From, got.To)
	}
	p := parse(t, got.Data)
	if p.header.Get("To") != "<ada@example.com>" || !strings.Contains(p.header.Get("From"), "scim@example.com") || p.header.Get("Subject") == "" {
		t.Fatalf("headers: %v", p.header)
	}
	codes := codeShape.FindAllString(p.text, -1)
	if len(codes) != 1 || !strings.Contains(p.html, codes[0]) {
		t.Fatalf("want exactly one code in the text, and the same in the HTML; text:\n%s", p.text)
	}
	if u, err := d.CheckSetupCode(ctx, "ada@example.com", codes[0], db.PurposeSetup, time.Now()); err != nil || u.ID != ada.ID {
		t.Fatalf("the mailed code does not redeem for ada: %v", err)
	}
	code, err := d.SetupCodeOf(ctx, ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"scimdesk setup --server " + serverURL, "https://downloads.example.com/scimdesk", "grace",
		code.Expires.UTC().Format("Monday 2 January 2006, 15:04 UTC"),
	} {
		if !strings.Contains(p.text, want) || !strings.Contains(p.html, want) {
			t.Errorf("the message lacks %q; text:\n%s", want, p.text)
		}
	}
	key, err := os.ReadFile(db.CodeKeyPath(d.Path()))
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"SMTP password": srv.Pass, "SCIM token": tokenSecret,
		"code key": string(key), "code key (hex)": hex.EncodeToString(key)} {
		if bytes.Contains(got.Data, []byte(secret)) || strings.Contains(p.text+p.html, secret) {
			t.Errorf("the message contains the %s", name)
		}
	}
	inv, err := d.LatestInvite(ctx, ada.ID)
	if err != nil || inv.State() != "sent" || inv.Attempts != 1 || !inv.CodeExpires.Equal(code.Expires) {
		t.Fatalf("ada's invitation = %+v, %v; want sent on attempt 1 with the code's expiry", inv, err)
	}
	// Sent means done: nothing goes out twice.
	if n, err := m.DeliverDue(ctx, time.Now().Add(time.Hour)); n != 0 || err != nil || srv.Pending() != 0 {
		t.Fatalf("a second round sent %d (%v)", n, err)
	}
}

// A mail server that is down loses nothing: the invitation waits out its backoff, costs no
// code meanwhile, and goes out once the server is back.
func TestInvitationSurvivesOutage(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	ada := addPending(t, d, "ada", "ada@example.com")
	if _, err := d.InviteUser(ctx, ada.ID, "cli:grace"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the mail server is down
	const pass = "outage-pass"
	m, err := invite.New(invite.Config{DB: d, SMTPURL: "smtp://mailer:" + pass + "@" + addr, From: "scim@example.com",
		ServerURL: func() string { return serverURL }})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if n, err := m.DeliverDue(ctx, now); n != 0 || err == nil {
		t.Fatalf("DeliverDue with the server down = %d, %v; want 0 and the error", n, err)
	}
	inv, err := d.LatestInvite(ctx, ada.ID)
	if err != nil || inv.State() != "retrying" || inv.Attempts != 1 || inv.LastError == "" || !inv.NextAt.After(now) {
		t.Fatalf("after the outage = %+v, %v; want retrying, attempt 1, the error, a later retry", inv, err)
	}
	if strings.Contains(inv.LastError, pass) {
		t.Fatalf("the recorded error holds the SMTP password: %q", inv.LastError)
	}
	if _, err := d.SetupCodeOf(ctx, ada.ID); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("a code was issued although no mail could go out: %v", err)
	}

	srv := testsmtp.Start(t, testsmtp.Options{Addr: addr, Pass: pass})
	m.Transport().TLS = &tls.Config{RootCAs: srv.Roots}
	if n, err := m.DeliverDue(ctx, now); n != 0 || err != nil || srv.Pending() != 0 {
		t.Fatalf("DeliverDue before the retry time = %d, %v; want the backoff honoured", n, err)
	}
	if n, err := m.DeliverDue(ctx, inv.NextAt); n != 1 || err != nil {
		t.Fatalf("DeliverDue at the retry time = %d, %v; want the invitation sent", n, err)
	}
	p := parse(t, srv.Next(t, 10*time.Second).Data)
	code := codeShape.FindString(p.text)
	if _, err := d.CheckSetupCode(ctx, "ada@example.com", code, db.PurposeSetup, time.Now()); err != nil {
		t.Fatalf("the code mailed after the outage does not redeem: %v", err)
	}
	if !strings.Contains(p.text, `"For your users"`) || !strings.Contains(p.html, "For your users") {
		t.Errorf("without --client-download-url the message does not point at the README's section:\n%s", p.text)
	}
	if inv, _ := d.LatestInvite(ctx, ada.ID); inv.State() != "sent" || inv.Attempts != 2 {
		t.Fatalf("after delivery = %+v, want sent on attempt 2", inv)
	}
}

// The mail server's answer to the recipient decides: a 4xx is retried, a 5xx gives up.
func TestInvitationRefusedRecipient(t *testing.T) {
	for _, tc := range []struct {
		code  int
		state string
	}{{450, "retrying"}, {550, "failed"}} {
		ctx := context.Background()
		d := openDB(t)
		ada := addPending(t, d, "ada", "ada@example.com")
		if _, err := d.InviteUser(ctx, ada.ID, "cli:grace"); err != nil {
			t.Fatal(err)
		}
		srv := testsmtp.Start(t, testsmtp.Options{})
		srv.RejectRcpt = func(string) error {
			return &gosmtp.SMTPError{Code: tc.code, EnhancedCode: gosmtp.EnhancedCode{tc.code / 100, 1, 1}, Message: "mailbox unavailable"}
		}
		m := newMailer(t, d, srv.URL(), srv)
		if n, err := m.DeliverDue(ctx, time.Now()); n != 0 || err == nil {
			t.Fatalf("%d: DeliverDue = %d, %v; want the refusal", tc.code, n, err)
		}
		if inv, _ := d.LatestInvite(ctx, ada.ID); inv.State() != tc.state || !strings.Contains(inv.LastError, "mailbox unavailable") {
			t.Fatalf("%d: invitation = %+v, want %s with the server's words", tc.code, inv, tc.state)
		}
	}
}

// With sign-in by the identity provider configured, the invitation says to sign in and
// carries no code at all; a code the user already holds is left as it is.
func TestSignInInvitationCarriesNoCode(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	ada := addPending(t, d, "ada", "ada@example.com")
	_, held, err := d.IssueSetupCode(ctx, ada.ID, db.PurposeSetup, "cli:grace")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.InviteUser(ctx, ada.ID, "cli:grace"); err != nil {
		t.Fatal(err)
	}
	srv := testsmtp.Start(t, testsmtp.Options{})
	m, err := invite.New(invite.Config{DB: d, SMTPURL: srv.URL(), From: "scim@example.com",
		ServerURL: func() string { return serverURL }, SignIn: func(context.Context) (bool, error) { return true, nil }})
	if err != nil {
		t.Fatal(err)
	}
	m.Transport().TLS = &tls.Config{RootCAs: srv.Roots}
	if n, err := m.DeliverDue(ctx, time.Now()); n != 1 || err != nil {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	p := parse(t, srv.Next(t, 10*time.Second).Data)
	if codeShape.MatchString(p.text) || codeShape.MatchString(p.html) || !strings.Contains(p.text, "sign in with your company account") ||
		!strings.Contains(p.html, "sign in with your company account") || !strings.Contains(p.text, "scimdesk setup --server "+serverURL) {
		t.Fatalf("the sign-in invitation:\n%s", p.text)
	}
	if _, err := d.CheckSetupCode(ctx, "ada@example.com", held, db.PurposeSetup, time.Now()); err != nil {
		t.Fatalf("the code ada held was voided by a sign-in invitation: %v", err)
	}
	if inv, _ := d.LatestInvite(ctx, ada.ID); inv.State() != "sent" || !inv.CodeExpires.IsZero() {
		t.Fatalf("invitation = %+v, want sent with no code expiry", inv)
	}
}

// When the sign-in settings cannot be read, the attempt is counted and retried later,
// like a mail server outage, and no code is issued meanwhile.
func TestSignInSettingsUnreadableIsRetried(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	ada := addPending(t, d, "ada", "ada@example.com")
	if _, err := d.InviteUser(ctx, ada.ID, "cli:grace"); err != nil {
		t.Fatal(err)
	}
	srv := testsmtp.Start(t, testsmtp.Options{})
	m, err := invite.New(invite.Config{DB: d, SMTPURL: srv.URL(), From: "scim@example.com", ServerURL: func() string { return serverURL },
		SignIn: func(context.Context) (bool, error) { return false, errors.New("settings unreadable") }})
	if err != nil {
		t.Fatal(err)
	}
	m.Transport().TLS = &tls.Config{RootCAs: srv.Roots}
	now := time.Now()
	if n, err := m.DeliverDue(ctx, now); n != 0 || err == nil {
		t.Fatalf("DeliverDue = %d, %v; want the error", n, err)
	}
	inv, _ := d.LatestInvite(ctx, ada.ID)
	if inv.State() != "retrying" || inv.Attempts != 1 || !strings.Contains(inv.LastError, "settings unreadable") || !inv.NextAt.After(now) {
		t.Fatalf("invitation = %+v, want retrying later with the error", inv)
	}
	if _, err := d.SetupCodeOf(ctx, ada.ID); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("a code was issued: %v", err)
	}
}
