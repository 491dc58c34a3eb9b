// Package testidp is a real OpenID provider for tests, on 127.0.0.1: zitadel's op
// package, which implements discovery, the JWKS endpoint and the device grant (RFC 8628)
// and issues and signs ID tokens itself, over zitadel's example in-memory storage (with
// its own RSA signing key). Only the users and the apps are the test's: public native apps
// with the device grant, as an admin registers in Okta or Entra ID. Only tests import it.
package testidp

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"
)

// Provider is a running OpenID provider.
type Provider struct {
	Issuer  string
	URL     string // where it listens; differs from Issuer for an impostor
	storage *providerStorage
}

// User is an account at the provider: its subject, email and whether the email is verified.
type User struct {
	ID            string
	Email         string
	EmailVerified bool
}

// IDTokenLifetime is how long the provider's ID tokens live.
const IDTokenLifetime = 10 * time.Minute

// Start starts a provider with the given users and apps. With issuer "", it is
// the issuer at its own address; otherwise it claims to be issuer, as an impostor with its
// own key would.
func Start(t testing.TB, issuer string, users []User, clientIDs ...string) *Provider {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	url := "http://" + ts.Listener.Addr().String()
	if issuer == "" {
		issuer = url
	}
	us := userStore{}
	for _, u := range users {
		us[u.ID] = &storage.User{ID: u.ID, Username: u.Email, Email: u.Email, EmailVerified: u.EmailVerified, FirstName: "Test", LastName: u.ID}
	}
	apps, known := map[string]op.Client{}, map[string]*storage.Client{}
	for _, id := range clientIDs {
		apps[id] = deviceApp(id)
		// The example storage checks its own map when it stores a device authorization;
		// the op asks GetClientByClientID, which answers with our public app.
		known[id] = storage.DeviceClient(id, "")
	}
	st := &providerStorage{Storage: storage.NewStorageWithClients(us, known), apps: apps}
	var key [32]byte
	rand.Read(key[:])
	prov, err := op.NewOpenIDProvider(issuer, &op.Config{
		CryptoKey:                key,
		DefaultLogoutRedirectURI: "/",
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime:     5 * time.Minute,
			PollInterval: time.Second,
			UserFormPath: "/device",
			UserCode:     op.UserCodeBase20,
		},
	}, st, op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = prov
	ts.Start()
	t.Cleanup(ts.Close)
	return &Provider{Issuer: issuer, URL: url, storage: st}
}

// Approve is the user signing in in their browser and confirming the code shown in the
// terminal: the provider marks the device authorization done for that user.
func (p *Provider) Approve(t testing.TB, userCode, userID string) {
	t.Helper()
	if err := p.storage.CompleteDeviceAuthorization(context.Background(), userCode, userID); err != nil {
		t.Fatal(err)
	}
}

// Endpoint is the provider's device and token endpoints where it listens: what a client
// uses to talk to an impostor, whose discovery document would come from the issuer it claims.
func (p *Provider) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{DeviceAuthURL: p.URL + "/device_authorization", TokenURL: p.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}
}

// providerStorage is zitadel's example storage with our apps.
type providerStorage struct {
	*storage.Storage
	apps map[string]op.Client
}

func (s *providerStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if c, ok := s.apps[id]; ok {
		return c, nil
	}
	return nil, zoidc.ErrInvalidClient().WithDescription("no such app")
}

type userStore map[string]*storage.User

func (u userStore) GetUserByID(id string) *storage.User { return u[id] }
func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u userStore) ExampleClientID() string { return "service" }

// deviceApp is a public native app allowed the device grant, whose ID tokens carry the
// profile and email claims.
type deviceApp string

func (a deviceApp) GetID() string                       { return string(a) }
func (a deviceApp) RedirectURIs() []string              { return nil }
func (a deviceApp) PostLogoutRedirectURIs() []string    { return nil }
func (a deviceApp) ApplicationType() op.ApplicationType { return op.ApplicationTypeNative }
func (a deviceApp) AuthMethod() zoidc.AuthMethod        { return zoidc.AuthMethodNone }
func (a deviceApp) ResponseTypes() []zoidc.ResponseType {
	return []zoidc.ResponseType{zoidc.ResponseTypeCode}
}
func (a deviceApp) GrantTypes() []zoidc.GrantType {
	return []zoidc.GrantType{zoidc.GrantTypeDeviceCode}
}
func (a deviceApp) LoginURL(string) string               { return "/login" }
func (a deviceApp) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (a deviceApp) IDTokenLifetime() time.Duration       { return IDTokenLifetime }
func (a deviceApp) DevMode() bool                        { return false }
func (a deviceApp) IsScopeAllowed(string) bool           { return false }
func (a deviceApp) IDTokenUserinfoClaimsAssertion() bool { return true }
func (a deviceApp) ClockSkew() time.Duration             { return 0 }
func (a deviceApp) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (a deviceApp) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
