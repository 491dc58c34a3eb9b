package scimserver

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"scimdesk/db"
	"scimdesk/internal/testidp"
	"scimdesk/setupapi"
)

const testAppID = "scimdesk-cli"

// signInEnv is a setup server whose admin set sign-in with a real provider on 127.0.0.1.
type signInEnv struct {
	*setupEnv
	idp    *testidp.Provider
	client *setupapi.Client
}

func newSignInEnv(t *testing.T, users []testidp.User) *signInEnv {
	t.Helper()
	se := newSetupEnv(t)
	p := testidp.Start(t, "", users, testAppID, "another-app")
	if err := se.db.SetOIDCConfig(context.Background(), db.OIDCConfig{Issuer: p.Issuer, ClientID: testAppID}, "cli:test"); err != nil {
		t.Fatal(err)
	}
	c, err := setupapi.NewClient(se.base, "")
	if err != nil {
		t.Fatal(err)
	}
	return &signInEnv{setupEnv: se, idp: p, client: c}
}

// deviceSignIn runs the device flow as the setup client does, with the user approving in
// the browser while the client polls, and returns the ID token.
func deviceSignIn(t *testing.T, f *setupapi.DeviceFlow, p *testidp.Provider, userID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	da, err := f.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.UserCode == "" || !strings.HasPrefix(da.VerificationURI, p.Issuer) || !strings.Contains(da.VerificationURIComplete, da.UserCode) {
		t.Fatalf("device authorization: %+v", da)
	}
	type result struct {
		tok string
		err error
	}
	done := make(chan result, 1)
	go func() { tok, err := f.Wait(ctx, da); done <- result{tok, err} }()
	p.Approve(t, da.UserCode, userID)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.tok
}

func (e *signInEnv) discover(t *testing.T) *setupapi.DeviceFlow {
	t.Helper()
	cfg, err := e.client.Config(context.Background())
	if err != nil || cfg.SignIn == nil || cfg.SignIn.Issuer != e.idp.Issuer || cfg.SignIn.ClientID != testAppID {
		t.Fatalf("config: %+v, %v", cfg, err)
	}
	f, err := setupapi.DiscoverDeviceFlow(context.Background(), nil, cfg.SignIn.Issuer, cfg.SignIn.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func wantRefusal(t *testing.T, what string, err error, code string) {
	t.Helper()
	var se *setupapi.Error
	if !errors.As(err, &se) || se.Code != code {
		t.Errorf("%s: %v, want the refusal %s", what, err, code)
	}
}

// TestSignInDeviceFlow is the whole sign-in: the admin's settings reach the client, the
// device flow runs against a real provider, the server verifies the ID token and the user
// sets up their key through begin and complete; then every refusal the issue names.
func TestSignInDeviceFlow(t *testing.T) {
	ctx := context.Background()
	e := newSignInEnv(t, []testidp.User{
		{ID: "ada", Email: "ada@example.com", EmailVerified: true},
		{ID: "bob", Email: "bob@example.com", EmailVerified: true},
		{ID: "gone", Email: "gone@example.com", EmailVerified: true},
		{ID: "stranger", Email: "stranger@example.com", EmailVerified: true},
		{ID: "unverified", Email: "unverified@example.com", EmailVerified: false},
	})
	ada := e.provision("ada", "")
	e.provision("bob", "")
	e.provision("unverified", "")
	gone := e.provision("gone", "")
	if r := e.do("PATCH", "/Users/"+gone.id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`); r.status != http.StatusOK {
		t.Fatalf("deactivate: %d %s", r.status, r.raw)
	}
	flow := e.discover(t)

	// Ready after sign-in: the code the sign-in earns goes through today's begin and complete.
	idToken := deviceSignIn(t, flow, e.idp, "ada")
	got, err := e.client.SignIn(ctx, idToken, db.PurposeSetup)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "ada" || got.Code == "" || !got.Expires.After(e.now) {
		t.Fatalf("sign-in: %+v", got)
	}
	begin, err := e.client.Begin(ctx, got.Email, got.Code, db.PurposeSetup)
	if err != nil || begin.UserID != ada.id {
		t.Fatalf("begin: %+v, %v", begin, err)
	}
	done, err := e.client.Complete(ctx, setupapi.CompleteRequest{Email: got.Email, Code: got.Code, Purpose: db.PurposeSetup,
		UserID: begin.UserID, Bundle: e.bundle(begin.UserID)})
	if err != nil || done.Status != db.StatusReady {
		t.Fatalf("complete: %+v, %v", done, err)
	}
	if u, _ := e.db.UserByID(ctx, ada.id); !u.HasKey {
		t.Fatal("ada is not ready after sign-in and complete")
	}
	if ev := e.events("user.signin"); len(ev) != 1 || ev[0].Subject != "ada" || ev[0].Failed() {
		t.Errorf("sign-in audit: %+v", ev)
	}

	// A replayed token: refused although it is still valid.
	_, err = e.client.SignIn(ctx, idToken, db.PurposeSetup)
	wantRefusal(t, "replayed token", err, setupapi.RefusalTokenUsed)

	// Now ready: a new sign-in for setup is refused; one for recovery earns a recovery code.
	_, err = e.client.SignIn(ctx, deviceSignIn(t, flow, e.idp, "ada"), db.PurposeSetup)
	wantRefusal(t, "ready user", err, setupapi.RefusalAlreadyReady)
	rec, err := e.client.SignIn(ctx, deviceSignIn(t, flow, e.idp, "ada"), db.PurposeRecover)
	if err != nil || rec.Purpose != db.PurposeRecover {
		t.Fatalf("sign-in to recover: %+v, %v", rec, err)
	}
	if b, err := e.client.Begin(ctx, rec.Email, rec.Code, db.PurposeRecover); err != nil || b.Key == nil {
		t.Fatalf("begin recovery with the sign-in's code: %+v, %v", b, err)
	}

	// Refused: a deactivated user, an unknown email, an unverified email.
	_, err = e.client.SignIn(ctx, deviceSignIn(t, flow, e.idp, "gone"), db.PurposeSetup)
	wantRefusal(t, "deactivated user", err, setupapi.RefusalDeactivated)
	_, err = e.client.SignIn(ctx, deviceSignIn(t, flow, e.idp, "stranger"), db.PurposeSetup)
	wantRefusal(t, "unknown email", err, setupapi.RefusalUnknownUser)
	_, err = e.client.SignIn(ctx, deviceSignIn(t, flow, e.idp, "unverified"), db.PurposeSetup)
	wantRefusal(t, "unverified email", err, setupapi.RefusalUnverified)

	// Refused: a token the same provider issued to another app (another audience).
	other := appFlow(e.idp, "another-app")
	_, err = e.client.SignIn(ctx, deviceSignIn(t, other, e.idp, "bob"), db.PurposeSetup)
	wantRefusal(t, "token for another client id", err, setupapi.RefusalInvalidToken)

	// Refused: an expired token (the server's clock passes the token's exp).
	late := deviceSignIn(t, flow, e.idp, "bob")
	e.now = e.now.Add(testidp.IDTokenLifetime + 10*time.Minute)
	_, err = e.client.SignIn(ctx, late, db.PurposeSetup)
	wantRefusal(t, "expired token", err, setupapi.RefusalInvalidToken)
	e.now = time.Now()

	// Refused: a token with the right issuer, audience and user, signed by another key (a
	// second provider claiming to be the first).
	impostor := testidp.Start(t, e.idp.Issuer, []testidp.User{{ID: "bob", Email: "bob@example.com", EmailVerified: true}}, testAppID)
	forged := deviceSignIn(t, appFlow(impostor, testAppID), impostor, "bob")
	_, err = e.client.SignIn(ctx, forged, db.PurposeSetup)
	wantRefusal(t, "token signed by another key", err, setupapi.RefusalInvalidToken)

	// None of the refusals gave anyone a key or a code; each was audited without the token.
	if n := e.keyCount(); n != 1 {
		t.Errorf("%d keys stored, want ada's only", n)
	}
	e.srv.setupRefused.flush(ctx, e.srv)
	refused := 0
	for _, ev := range e.events("user.signin") {
		if strings.Contains(ev.Summary, idToken) || strings.Contains(ev.Summary, forged) || strings.Contains(ev.Summary, late) {
			t.Errorf("the audit log holds a token: %+v", ev)
		}
		if ev.Failed() {
			refused++
		}
	}
	if refused != 8 {
		t.Errorf("%d refused sign-ins audited, want 8", refused)
	}
	// Bob is still pending, with no code out.
	if _, err := e.db.SetupCodeOf(ctx, e.userID(t, "bob")); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("a refused sign-in left bob a code: %v", err)
	}
}

func (e *signInEnv) userID(t *testing.T, userName string) string {
	t.Helper()
	u, err := e.db.UserByEmail(context.Background(), userName)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestSignInConfigAndInput: without settings the client learns codes only; malformed
// sign-ins get a clear 4xx and nothing else.
func TestSignInConfigAndInput(t *testing.T) {
	se := newSetupEnv(t)
	c, err := setupapi.NewClient(se.base, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.Config(context.Background())
	if err != nil || cfg.SignIn != nil {
		t.Fatalf("config without sign-in: %+v, %v", cfg, err)
	}
	_, err = c.SignIn(context.Background(), "eyJ.x.y", db.PurposeSetup)
	wantRefusal(t, "sign-in not set", err, setupapi.RefusalSignInOff)
	if err := se.db.SetOIDCConfig(context.Background(), db.OIDCConfig{Issuer: "http://127.0.0.1:1", ClientID: "x"}, "cli:test"); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{}`, `{"idToken":"a.b.c"}`, `{"idToken":"","purpose":"setup"}`, `{"idToken":"a","purpose":"setup","code":"x"}`,
		`{"idToken":"` + strings.Repeat("a", maxIDToken+1) + `","purpose":"setup"}`} {
		if r := se.post(se.base, "/setup/v1/signin", body); r.status != http.StatusBadRequest {
			t.Errorf("%.60s: %d %s", body, r.status, r.raw)
		}
	}
	// A provider that is down: a clear 503, not a hang or a 500.
	_, err = c.SignIn(context.Background(), "a.b.c", db.PurposeSetup)
	var down *setupapi.Error
	if !errors.As(err, &down) || down.Status != http.StatusServiceUnavailable || down.Code != setupapi.RefusalIdPDown {
		t.Errorf("provider down: %v", err)
	}
	if r := se.send(se.base, http.MethodPost, "/setup/v1/config", ``); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST config: %d", r.status)
	}
}

// appFlow is the device flow for the app clientID at the provider's own endpoints.
func appFlow(p *testidp.Provider, clientID string) *setupapi.DeviceFlow {
	return &setupapi.DeviceFlow{OAuth: oauth2.Config{ClientID: clientID, Scopes: setupapi.DeviceScopes, Endpoint: p.Endpoint()}}
}

// TestSignInConfigIsCachedForASecond: the sign-in settings a flood of requests reads are
// read from the database at most once per configTTL, and a change is seen once it is up.
func TestSignInConfigIsCachedForASecond(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "scim.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first := db.OIDCConfig{Issuer: "https://idp.example.com", ClientID: "first"}
	if err := d.SetOIDCConfig(ctx, first, "test"); err != nil {
		t.Fatal(err)
	}
	var cc configCache
	t0 := time.Unix(5000, 0)
	if got, err := cc.get(ctx, d, t0); err != nil || got != first {
		t.Fatalf("first read: %+v %v", got, err)
	}
	second := db.OIDCConfig{Issuer: "https://idp.example.com", ClientID: "second"}
	if err := d.SetOIDCConfig(ctx, second, "test"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cc.get(ctx, d, t0.Add(configTTL-time.Millisecond)); got != first {
		t.Errorf("within configTTL: %+v, want the cached %+v", got, first)
	}
	if got, _ := cc.get(ctx, d, t0.Add(configTTL)); got != second {
		t.Errorf("configTTL later: %+v, want the new %+v", got, second)
	}
}
