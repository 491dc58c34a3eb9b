package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testidp"
	"scimdesk/keys"
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
	d0.want(d0.until(sfSignIn), "Type your email and the setup code")

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
