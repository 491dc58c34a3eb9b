package scimserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"scimdesk/db"
	"scimdesk/setupapi"
)

// Sign-in with the identity provider, for users the provider provisioned:
//
//	GET  /setup/v1/config  -> setupapi.Config: whether sign-in is available, and with what
//	POST /setup/v1/signin  {idToken, purpose} -> setupapi.SignInResponse
//
// The client runs the device flow (RFC 8628) with the provider itself and sends the ID
// token it got. The server verifies it (signature against the issuer's keys, issuer,
// audience = the configured client id, expiry), matches it to one user and answers with a
// short-lived code of the asked purpose for that user. The client goes on with begin and
// complete exactly as with a code from the admin, so the key is stored by the one path
// that stores keys. Each ID token works once; it is never stored or logged, only its
// sha256 until it expires.

// maxIDToken bounds the token a client may send: real ones are a few KiB.
const maxIDToken = 16 << 10

// idpRetry is how long a failed discovery of the issuer is remembered: unauthenticated
// sign-ins must not make the server fetch from the provider on every request.
const idpRetry = 30 * time.Second

// idp verifies ID tokens of the configured provider. It keeps one go-oidc verifier for the
// configuration in force (its key set caches the provider's keys and fetches them again,
// one fetch at a time, when a token names a key it does not know) and builds a new one
// when the admin changes the configuration.
type idp struct {
	client *http.Client

	mu       sync.Mutex
	cfg      db.OIDCConfig
	verifier *oidc.IDTokenVerifier
	err      error     // the last discovery failure for cfg
	failedAt time.Time // when it happened
}

func newIDP() *idp { return &idp{client: &http.Client{Timeout: 10 * time.Second}} }

// verify checks raw against cfg at now; the error says what is wrong in words.
func (p *idp) verify(ctx context.Context, cfg db.OIDCConfig, raw string, now func() time.Time) (*oidc.IDToken, error) {
	v, err := p.get(ctx, cfg, now)
	if err != nil {
		return nil, err
	}
	return v.Verify(ctx, raw)
}

// get returns the verifier for cfg, discovering the issuer if needed. The lock is held
// across discovery, so concurrent first sign-ins wait for one fetch instead of each
// making their own.
func (p *idp) get(ctx context.Context, cfg db.OIDCConfig, now func() time.Time) (*oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg == cfg {
		if p.verifier != nil {
			return p.verifier, nil
		}
		if p.err != nil && now().Sub(p.failedAt) < idpRetry {
			return nil, p.err
		}
	}
	p.cfg, p.verifier, p.err = cfg, nil, nil
	// The key set keeps the context it is built with for its later fetches: a background
	// one carrying the client with its timeout, not this request's.
	keysCtx := oidc.ClientContext(context.Background(), p.client)
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.client), 10*time.Second)
	defer cancel()
	prov, err := oidc.NewProvider(dctx, cfg.Issuer)
	if err != nil {
		p.err, p.failedAt = &setupProblem{http.StatusServiceUnavailable, setupapi.RefusalIdPDown,
			"the server cannot use the identity provider " + cfg.Issuer + " right now (its discovery document did not load; the server log says why): try again later, or use a setup code"}, now()
		return nil, fmt.Errorf("%w (%v)", p.err, err)
	}
	p.verifier = prov.VerifierContext(keysCtx, &oidc.Config{ClientID: cfg.ClientID, Now: now})
	return p.verifier, nil
}

// idClaims are the claims that name the user.
type idClaims struct {
	Email             string          `json:"email"`
	EmailVerified     json.RawMessage `json:"email_verified"` // a boolean; some providers send "true"
	PreferredUsername string          `json:"preferred_username"`
}

func (c idClaims) verified() bool {
	s := strings.Trim(strings.TrimSpace(string(c.EmailVerified)), `"`)
	return s == "true"
}

// login is what the token says the user logs in as: the email when the provider vouches
// for it; else, when the token has no email at all, the preferred_username. An email the
// provider has not verified is refused rather than passed over for the username: anyone
// can type an address into a profile.
func (c idClaims) login() (string, error) {
	switch {
	case c.Email != "" && c.verified():
		return c.Email, nil
	case c.Email != "":
		return "", &setupProblem{http.StatusForbidden, setupapi.RefusalUnverified,
			"the identity provider has not verified your email " + truncate(c.Email, 100) + ": verify it there, or ask your admin for a setup code"}
	case c.PreferredUsername != "":
		return c.PreferredUsername, nil
	}
	return "", &setupProblem{http.StatusForbidden, setupapi.RefusalUnknownUser,
		"the sign-in names no email or username: the app must grant the email scope"}
}

// configCache holds the sign-in settings for configTTL, so that /setup/v1/config, which
// is not rate limited, costs the database at most one read per configTTL.
type configCache struct {
	mu  sync.Mutex
	at  time.Time
	cfg db.OIDCConfig
}

const configTTL = time.Second

func (cc *configCache) get(ctx context.Context, d *db.DB, now time.Time) (db.OIDCConfig, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if !cc.at.IsZero() && now.Sub(cc.at) < configTTL && now.After(cc.at) {
		return cc.cfg, nil
	}
	cfg, err := d.OIDCConfig(ctx)
	if err != nil {
		return cfg, err
	}
	cc.cfg, cc.at = cfg, now
	return cfg, nil
}

func (a *setupAPI) config(w http.ResponseWriter, r *http.Request, c *call) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeSetupError(w, http.StatusMethodNotAllowed, setupapi.ErrorBody{Error: setupapi.RefusalMethod, Message: "use GET"})
		return
	}
	cfg, err := a.cfg.get(r.Context(), a.s.db, a.now())
	if err != nil {
		a.refuse(w, r, c, "", db.PurposeSetup, err)
		return
	}
	var out setupapi.Config
	if cfg.Configured() {
		out.SignIn = &setupapi.SignInConfig{Issuer: cfg.Issuer, ClientID: cfg.ClientID}
	}
	writeSetupJSON(w, http.StatusOK, out)
}

func (a *setupAPI) signIn(w http.ResponseWriter, r *http.Request, c *call) {
	var req setupapi.SignInRequest
	if !decodeSetup(w, r, &req) {
		return
	}
	kind := "user.signin"
	refuse := func(who string, err error) { a.refuseAs(w, r, c, kind, who, err) }
	switch {
	case req.Purpose != db.PurposeSetup && req.Purpose != db.PurposeRecover:
		writeSetupError(w, http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalBadRequest, Message: `purpose must be "setup" or "recover"`})
		return
	case strings.TrimSpace(req.IDToken) == "":
		writeSetupError(w, http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalBadRequest, Message: "idToken is required"})
		return
	case len(req.IDToken) > maxIDToken:
		writeSetupError(w, http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalBadRequest, Message: "idToken is too long"})
		return
	}
	cfg, err := a.s.db.OIDCConfig(r.Context())
	if err != nil {
		refuse("", err)
		return
	}
	if !cfg.Configured() {
		refuse("", &setupProblem{http.StatusConflict, setupapi.RefusalSignInOff, "this server has no identity provider to sign in with: ask your admin for a setup code"})
		return
	}
	tok, err := a.idp.verify(r.Context(), cfg, req.IDToken, a.now)
	if err != nil {
		var p *setupProblem
		if !errors.As(err, &p) {
			a.s.log.InfoContext(r.Context(), "ID token refused", "addr", c.addr, "reason", truncate(err.Error(), 300))
			err = &setupProblem{http.StatusUnauthorized, setupapi.RefusalInvalidToken, "the sign-in is not valid here: " + tokenProblem(err)}
		}
		refuse("", err)
		return
	}
	var claims idClaims
	if err := tok.Claims(&claims); err != nil {
		refuse("", &setupProblem{http.StatusUnauthorized, setupapi.RefusalInvalidToken, "the sign-in's claims are malformed"})
		return
	}
	login, err := claims.login()
	if err != nil {
		refuse(claims.Email, err)
		return
	}
	s := db.SignIn{TokenHash: db.IDTokenHash(req.IDToken), TokenExpires: tok.Expiry, Login: login, Purpose: req.Purpose,
		Event: c.event(kind, "", http.StatusOK, "")}
	// Every refusal the reader can tell is told before the writer is asked.
	if _, err := a.s.db.CheckSignIn(r.Context(), s, a.now()); err != nil {
		refuse(login, err)
		return
	}
	u, code, text, err := a.s.db.GrantSignIn(r.Context(), s)
	if err != nil {
		refuse(login, err)
		return
	}
	a.s.log.InfoContext(r.Context(), "signed in with the identity provider", "user", u.UserName, "purpose", req.Purpose, "addr", c.addr)
	a.s.published()
	writeSetupJSON(w, http.StatusOK, setupapi.SignInResponse{Email: u.UserName, Code: text, Purpose: code.Purpose, Expires: code.Expires,
		UserName: u.UserName, DisplayName: u.DisplayName})
}

// tokenProblem says in a few words why go-oidc refused a token, without echoing it.
func tokenProblem(err error) string {
	var exp *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &exp):
		return "it has expired: sign in again"
	case strings.Contains(msg, "audience"):
		return "it was issued to another app (client id)"
	case strings.Contains(msg, "issued by a different provider"):
		return "it was issued by another identity provider"
	case strings.Contains(msg, "signature"):
		return "its signature does not verify against the identity provider's keys"
	}
	return "it is malformed"
}

// signInRefusal maps a sign-in refusal from db to its status and body.
func signInRefusal(err error) (int, setupapi.ErrorBody, bool) {
	var se *db.SignInError
	if !errors.As(err, &se) {
		return 0, setupapi.ErrorBody{}, false
	}
	switch {
	case errors.Is(err, db.ErrSignInUnknown):
		return http.StatusForbidden, setupapi.ErrorBody{Error: setupapi.RefusalUnknownUser,
			Message: "no account on this server has your login: ask your admin to assign you the app in the identity provider"}, true
	case errors.Is(err, db.ErrSignInAmbiguous):
		return http.StatusForbidden, setupapi.ErrorBody{Error: setupapi.RefusalAmbiguousUser,
			Message: "more than one account on this server has your login: ask your admin for a setup code"}, true
	case errors.Is(err, db.ErrTokenReplayed):
		return http.StatusConflict, setupapi.ErrorBody{Error: setupapi.RefusalTokenUsed, Message: "this sign-in was already used: sign in again"}, true
	case errors.Is(err, db.ErrUserDeactivated):
		return http.StatusForbidden, setupapi.ErrorBody{Error: setupapi.RefusalDeactivated, Message: "your account is deactivated: ask your admin"}, true
	case errors.Is(err, db.ErrUserReady):
		return http.StatusConflict, setupapi.ErrorBody{Error: setupapi.RefusalAlreadyReady, Message: "your key is already set up: if you forgot your passphrase, run scimdesk recover"}, true
	case errors.Is(err, db.ErrUserNoKey):
		return http.StatusConflict, setupapi.ErrorBody{Error: setupapi.RefusalNoKey, Message: "you have no key to recover yet: run scimdesk setup"}, true
	}
	return 0, setupapi.ErrorBody{}, false
}
