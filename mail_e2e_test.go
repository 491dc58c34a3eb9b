package main

import (
	"bytes"
	"context"
	"mime"
	"mime/multipart"
	"net/mail"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testsmtp"
	"scimdesk/internal/testtool"
)

var mailedCode = regexp.MustCompile(`[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}`)

// mailText is the plain-text part of a received invitation.
func mailText(t *testing.T, raw []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	part, err := multipart.NewReader(msg.Body, params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(part)
	return b.String()
}

// TestInviteByEmailEndToEnd runs the real binary: `serve --invite auto` with an SMTP
// server on loopback (plain text is allowed there) mails a code to a user the identity
// provider creates, and `users invite` mails a fresh one that voids the first.
func TestInviteByEmailEndToEnd(t *testing.T) {
	if testing.Short() {
		testtool.SkipUnlessCI(t, "-short: this test builds and runs the binary")
	}
	ctx := context.Background()
	smtpSrv := testsmtp.Start(t, testsmtp.Options{NoTLS: true})
	e := startE2E(t, t.TempDir(), "", "--smtp-url", smtpSrv.URL(), "--smtp-from", "IT <it@example.com>", "--invite", "auto")

	e.scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com"}`)
	got := smtpSrv.Next(t, 30*time.Second)
	text := mailText(t, got.Data)
	first := mailedCode.FindString(text)
	if !strings.Contains(text, "scimdesk setup --server "+e.base) || first == "" {
		t.Fatalf("the invitation lacks the command for %s or the code:\n%s", e.base, text)
	}
	if _, err := e.store.CheckSetupCode(ctx, "ada@example.com", first, db.PurposeSetup, time.Now()); err != nil {
		t.Fatalf("the auto-invited code does not redeem: %v", err)
	}

	o, er := e.mustRun("", "users", "invite", "ada@example.com")
	if !strings.Contains(o, "queued") || !strings.Contains(er, "running scimdesk") {
		t.Fatalf("users invite said:\n%s\n%s", o, er)
	}
	second := mailedCode.FindString(mailText(t, smtpSrv.Next(t, 30*time.Second).Data))
	if second == "" || second == first {
		t.Fatalf("the second invitation carries %q, want a fresh code", second)
	}
	if _, err := e.store.CheckSetupCode(ctx, "ada@example.com", second, db.PurposeSetup, time.Now()); err != nil {
		t.Fatalf("the code of users invite does not redeem: %v", err)
	}
	if _, err := e.store.CheckSetupCode(ctx, "ada@example.com", first, db.PurposeSetup, time.Now()); err == nil {
		t.Fatal("the first code still works after a new invitation")
	}
	assertEvent(t, e.store, "user.invite", "ada@example.com", db.OutcomeOK)
	evs, _ := e.store.EventsBefore(ctx, 0, 500)
	audited := false
	for _, ev := range evs {
		audited = audited || ev.Kind == "user.invite" && ev.Agent == "cli:e2e-admin"
	}
	if !audited {
		t.Error("users invite is not audited as cli:e2e-admin")
	}

	// Once sign-in is set up (no restart), an invitation says to sign in and holds no code.
	e.mustRun("", "oidc", "set", "--issuer", "https://idp.example.com", "--client-id", "0oa1b2c3")
	e.mustRun("", "users", "invite", "ada@example.com")
	text = mailText(t, smtpSrv.Next(t, 30*time.Second).Data)
	if !strings.Contains(text, "sign in with your company account") || mailedCode.MatchString(text) {
		t.Errorf("with sign-in set up, the invitation reads:\n%s", text)
	}
}

// Without a server, `users invite` queues and says when it goes out; serve refuses
// --invite auto without a mail server, and never echoes the SMTP password.
func TestInviteWithoutServer(t *testing.T) {
	if testing.Short() {
		testtool.SkipUnlessCI(t, "-short: this test builds and runs the binary")
	}
	ctx := context.Background()
	dir := t.TempDir()
	e := &e2e{t: t, bin: builtBinary(t), dbPath: filepath.Join(dir, "scim.db")}
	store, err := db.Open(ctx, e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	u := db.User{ID: "u-ada", UserName: "ada@example.com", Active: true, Doc: []byte(`{}`)}
	if err := store.Write(ctx, func(tx *db.Tx) error { return tx.InsertUser(ctx, &u) }); err != nil {
		t.Fatal(err)
	}
	o, er := e.mustRun("", "users", "invite", "--all-pending")
	if !strings.Contains(o, "1 invitations queued") || !strings.Contains(er, "goes out when `scimdesk serve` runs with --smtp-url") {
		t.Fatalf("users invite --all-pending said:\n%s\n%s", o, er)
	}
	if inv, err := store.LatestInvite(ctx, u.ID); err != nil || inv.State() != "queued" {
		t.Fatalf("invitation = %+v, %v; want queued", inv, err)
	}
	o, _ = e.mustRun("", "users", "onboarding")
	if lines := strings.Split(strings.TrimSpace(o), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "ada@example.com") ||
		!strings.Contains(lines[1], "none") || !strings.Contains(lines[1], "queued to ada@example.com") {
		t.Fatalf("users onboarding:\n%s", o)
	}
	_, er, err = e.run("", "serve", "--db", e.dbPath, "--addr", "127.0.0.1:0", "--invite", "auto")
	if err == nil || !strings.Contains(er, "--invite auto needs --smtp-url") {
		t.Fatalf("serve --invite auto without SMTP: %v\n%s", err, er)
	}
	_, er, err = e.run("", "serve", "--db", e.dbPath, "--addr", "127.0.0.1:0", "--smtp-url", "ftp://u:hunter2secret@mail.example.com", "--smtp-from", "it@example.com")
	if err == nil || !strings.Contains(er, "smtp://") || strings.Contains(er, "hunter2secret") {
		t.Fatalf("serve with a bad SMTP URL: %v\n%s", err, er)
	}
}
