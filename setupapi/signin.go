package setupapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The client side of sign-in: ask the server whether sign-in is available, run the
// device flow (RFC 8628) with the identity provider, and trade the ID token for a code.

// Config asks the server how its users may set up: whether sign-in with an identity
// provider is available, and with which app.
func (c *Client) Config(ctx context.Context) (*Config, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/setup/v1/config", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "scimdesk-setup/1")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, &ConnError{URL: c.base, Err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, &ConnError{URL: c.base, Err: err}
	}
	if res.StatusCode == http.StatusNotFound {
		// A server from before sign-in: codes only.
		return &Config{}, nil
	}
	if res.StatusCode != http.StatusOK {
		return nil, responseError(c.base, res, raw)
	}
	var out Config
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, &Error{Status: res.StatusCode, Code: RefusalBadResponse, AttemptsLeft: -1,
			Message: fmt.Sprintf("the server at %s answered something that is not scimdesk's setup API: is the URL right?", c.base)}
	}
	return &out, nil
}

// SignIn trades an ID token from the identity provider for a code of purpose for the
// signed-in user; Begin and Complete then take the response's Email and Code.
func (c *Client) SignIn(ctx context.Context, idToken, purpose string) (*SignInResponse, error) {
	var out SignInResponse
	if err := c.post(ctx, "/setup/v1/signin", SignInRequest{IDToken: idToken, Purpose: purpose}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeviceFlow signs the user in with the identity provider from a terminal: the user opens
// a URL on any device and types a short code there; the terminal polls until they did.
type DeviceFlow struct {
	// OAuth is the public client: its client id, the provider's endpoints and the scopes.
	OAuth oauth2.Config
	// HTTP makes the requests to the provider.
	HTTP *http.Client
}

// DeviceScopes are what the server needs in the ID token: who the user is and their email.
var DeviceScopes = []string{oidc.ScopeOpenID, "email", "profile"}

// DiscoverDeviceFlow reads the issuer's discovery document (/.well-known/openid-configuration)
// and returns the flow for the app clientID. httpClient may be nil.
func DiscoverDeviceFlow(ctx context.Context, httpClient *http.Client, issuer, clientID string) (*DeviceFlow, error) {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	prov, err := oidc.NewProvider(oidc.ClientContext(ctx, httpClient), issuer)
	if err != nil {
		return nil, fmt.Errorf("read the identity provider's discovery document at %s: %w", issuer, err)
	}
	ep := prov.Endpoint()
	if ep.DeviceAuthURL == "" {
		return nil, fmt.Errorf("the identity provider %s offers no device sign-in (no device_authorization_endpoint): ask your admin for a setup code", issuer)
	}
	ep.AuthStyle = oauth2.AuthStyleInParams // a public client: the client id in the form, no secret
	return &DeviceFlow{OAuth: oauth2.Config{ClientID: clientID, Endpoint: ep, Scopes: DeviceScopes}, HTTP: httpClient}, nil
}

// Start asks the provider for a user code and the URL to enter it at.
func (f *DeviceFlow) Start(ctx context.Context) (*oauth2.DeviceAuthResponse, error) {
	da, err := f.OAuth.DeviceAuth(f.ctx(ctx))
	if err != nil {
		return nil, fmt.Errorf("start the sign-in: %w", explainOAuth(err))
	}
	return da, nil
}

// Wait polls the provider as RFC 8628 says (at its interval, slower after slow_down,
// until the code expires or ctx ends) and returns the ID token once the user has signed in.
func (f *DeviceFlow) Wait(ctx context.Context, da *oauth2.DeviceAuthResponse) (string, error) {
	tok, err := f.OAuth.DeviceAccessToken(f.ctx(ctx), da)
	if err != nil {
		return "", fmt.Errorf("sign-in: %w", explainOAuth(err))
	}
	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" {
		return "", errors.New("the identity provider signed you in but sent no ID token: the app must allow the openid scope")
	}
	return idToken, nil
}

func (f *DeviceFlow) ctx(ctx context.Context) context.Context {
	if f.HTTP == nil {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, f.HTTP)
}

// explainOAuth turns the provider's RFC 8628 errors into sentences.
func explainOAuth(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	switch re.ErrorCode {
	case "access_denied":
		return errors.New("the sign-in was declined in the browser")
	case "expired_token":
		return errors.New("the code expired before you signed in: start again")
	case "unauthorized_client", "invalid_client":
		return fmt.Errorf("the identity provider does not let this app use device sign-in (%s): ask your admin", re.ErrorCode)
	}
	if re.ErrorDescription != "" {
		return fmt.Errorf("%s: %s", re.ErrorCode, re.ErrorDescription)
	}
	return err
}
