package tui

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testidp"
	"scimdesk/keys"
	"scimdesk/scimserver"
)

// untilSignInCode handles messages until the flow shows the provider's user code.
func (d *flowDriver) untilSignInCode() string {
	d.t.Helper()
	d.until(sfDevice)
	deadline := time.After(10 * time.Second)
	for d.f.sso.da == nil {
		select {
		case m := <-d.msgs:
			d.send(m)
		case <-deadline:
			d.t.Fatalf("no user code; the view is:\n%s", d.view())
		}
	}
	return d.view()
}

// TestSetupFlowSignIn: a server whose admin set sign-in sends the user to the identity
// provider (a real one on 127.0.0.1); after they approve the code there, the flow goes on
// through the passphrase and recovery key screens and the user is ready. c leaves for the
// setup-code form.
func TestSetupFlowSignIn(t *testing.T) {
	w := newFlowWorld(t)
	idp := testidp.Start(t, "", []testidp.User{{ID: "sub-erin", Email: "Erin@Example.com", EmailVerified: true}}, "scimdesk-cli")
	if err := w.d.SetOIDCConfig(context.Background(), db.OIDCConfig{Issuer: idp.Issuer, ClientID: "scimdesk-cli"}, "cli:test"); err != nil {
		t.Fatal(err)
	}
	id, _ := w.pending("erin")

	// c: the user has a setup code after all.
	d0 := newFlowDriver(t, w.options(db.PurposeSetup, ""))
	d0.untilSignInCode()
	d0.keys("c")
	d0.want(d0.until(sfSignIn), "Type your email and the setup code", "ctrl+o sign in instead")
	d0.keys("ctrl+o") // and back to signing in
	d0.untilSignInCode()

	d := newFlowDriver(t, w.options(db.PurposeSetup, ""))
	v := d.untilSignInCode()
	da := d.f.sso.da
	d.want(v, "Sign in with your company account", da.VerificationURI, da.UserCode, da.VerificationURIComplete, "I have a setup code")
	idp.Approve(t, da.UserCode, "sub-erin")
	d.want(d.until(sfPassphrase), "Choose a passphrase for erin@example.com")
	d.passphrase(flowPass)
	d.until(sfShowKey)
	rk := d.f.rkText
	d.keys("enter")
	groups := strings.Split(rk, "-")
	d.typeText(groups[d.f.groups[0]] + "-" + groups[d.f.groups[1]])
	d.keys("enter")
	d.want(d.until(sfDone), "erin@example.com is ready")
	parsed, _ := keys.ParseRecoveryKey(rk)
	if err := keys.VerifyBundle(w.storedBundle(id), id, []byte(flowPass), parsed); err != nil {
		t.Fatal(err)
	}
}

// TestSetupScriptSignIn: without a screen, with neither --email nor --code, setup signs in
// with the provider (the URL and code on stderr) and the recovery key goes to stdout; then
// the interactive recover signs in the same way and opens the key with that recovery key.
func TestSetupScriptSignIn(t *testing.T) {
	w := newFlowWorld(t)
	idp := testidp.Start(t, "", []testidp.User{{ID: "sub-finn", Email: "finn@example.com", EmailVerified: true}}, "scimdesk-cli")
	if err := w.d.SetOIDCConfig(context.Background(), db.OIDCConfig{Issuer: idp.Issuer, ClientID: "scimdesk-cli"}, "cli:test"); err != nil {
		t.Fatal(err)
	}
	id, _ := w.pending("finn")

	// Without sign-in configured the script says what it needs.
	other := newFlowWorld(t)
	err := RunSetupScript(context.Background(), ScriptOptions{Server: other.base, PassphraseFile: "-", RecoveryFile: "-",
		Params: scimserver.MinKDF(), Stdin: strings.NewReader(flowPass), Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "--email and --code are required") {
		t.Fatalf("script without sign-in or code: %v", err)
	}

	pr, pw := io.Pipe()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- RunSetupScript(context.Background(), ScriptOptions{Server: w.base, PassphraseFile: "-", RecoveryFile: "-",
			Params: scimserver.MinKDF(), Stdin: strings.NewReader(flowPass), Stdout: &out, Stderr: pw})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	userCode := ""
	for userCode == "" && sc.Scan() {
		if _, after, ok := strings.Cut(sc.Text(), " and enter "); ok {
			userCode = after
		}
	}
	if userCode == "" {
		t.Fatalf("no user code on stderr: %v", <-done)
	}
	go io.Copy(io.Discard, pr)
	idp.Approve(t, userCode, "sub-finn")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rkText := strings.TrimSpace(out.String())
	if u, _ := w.d.UserByID(context.Background(), id); !u.HasKey {
		t.Fatal("finn is not ready after the scripted sign-in")
	}

	// Recover by sign-in: the flow gets a recovery code and asks for the recovery key.
	d := newFlowDriver(t, w.options(db.PurposeRecover, ""))
	d.untilSignInCode()
	idp.Approve(t, d.f.sso.da.UserCode, "sub-finn")
	d.want(d.until(sfRecoveryKey), "Type the recovery key")
	d.typeText(rkText)
	d.keys("enter")
	d.until(sfPassphrase)
	d.passphrase("a brand new passphrase 93 owls")
	d.want(d.until(sfDone), "finn@example.com is ready")
	rk, _ := keys.ParseRecoveryKey(rkText)
	if err := keys.VerifyBundle(w.storedBundle(id), id, []byte("a brand new passphrase 93 owls"), rk); err != nil {
		t.Fatal(err)
	}
}
