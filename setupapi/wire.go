package setupapi

import (
	"time"

	"scimdesk/keys"
)

// BeginRequest starts a setup or a recovery.
type BeginRequest struct {
	Email   string `json:"email"`
	Code    string `json:"code"`
	Purpose string `json:"purpose"` // PurposeSetup or PurposeRecover
}

// BeginResponse is who the code belongs to and what the client must know to make the
// key: the user id its blobs are bound to and the weakest argon2id cost accepted.
type BeginResponse struct {
	UserID      string      `json:"userId"`
	UserName    string      `json:"userName"`
	DisplayName string      `json:"displayName,omitempty"`
	Purpose     string      `json:"purpose"`
	MinKDF      keys.Params `json:"minKdf"`
	// Key is, for a recovery only, the stored public key and recovery blob: what the
	// recovery key opens. The passphrase blob is never handed out.
	Key *StoredKey `json:"key,omitempty"`
}

// StoredKey is the part of a stored master key that a recovery needs.
type StoredKey struct {
	Alg       string          `json:"alg"`
	PublicKey []byte          `json:"pub"`
	Recovery  keys.WrappedKey `json:"recovery"`
}

// CompleteRequest uploads the key. For a recovery, the bundle must carry the stored
// public key and recovery blob unchanged; only its passphrase blob is stored.
type CompleteRequest struct {
	Email   string      `json:"email"`
	Code    string      `json:"code"`
	Purpose string      `json:"purpose"`
	UserID  string      `json:"userId"`
	Bundle  keys.Bundle `json:"bundle"`
}

// CompleteResponse confirms the stored key.
type CompleteResponse struct {
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	Status   string `json:"status"` // "ready", as db.StatusReady
}

// ErrorBody is every setup API error. Error is a stable code for programs (see the
// Refusal* constants), Message a sentence for people.
type ErrorBody struct {
	Error        string `json:"error"`
	Message      string `json:"message"`
	AttemptsLeft *int   `json:"attemptsLeft,omitempty"` // with email_mismatch: wrong emails the code still survives
	Purpose      string `json:"purpose,omitempty"`      // the code's real purpose, with wrong_purpose
	RetryAfter   int    `json:"retryAfter,omitempty"`   // seconds, with rate_limited
}

// The purposes a code can have: setting up a first key, or replacing a forgotten
// passphrase with the recovery key. They are the values db stores (db.PurposeSetup,
// db.PurposeRecover); a test keeps the two in step.
const (
	// PurposeSetup is a code that sets up a pending user's first master key.
	PurposeSetup = "setup"
	// PurposeRecover is a code that replaces a ready user's passphrase blob.
	PurposeRecover = "recover"
)

// CodeExample shows the shape of a code in messages (as db.SetupCodeExample).
const CodeExample = "ABCDE-FGHJK-MNPQR-STVWX"

// Setup API error codes: the stable ErrorBody.Error values that programs match on.
const (
	RefusalBadRequest    = "bad_request"
	RefusalCodeFormat    = "code_format"
	RefusalInvalidCode   = "invalid_code" // no such code, whatever the email
	RefusalCodeTypo      = "code_typo"    // the check symbols do not match
	RefusalEmailMismatch = "email_mismatch"
	RefusalExhausted     = "code_exhausted"
	RefusalExpired       = "code_expired"
	RefusalUsed          = "code_used"
	RefusalWrongPurpose  = "wrong_purpose"
	RefusalDeactivated   = "user_deactivated"
	RefusalAlreadyReady  = "already_ready"
	RefusalNoKey         = "no_key"
	RefusalInvalidBundle = "invalid_bundle"
	RefusalWeakKDF       = "weak_kdf"
	RefusalUserMismatch  = "user_mismatch"
	RefusalKeyMismatch   = "key_mismatch"
	RefusalRateLimited   = "rate_limited"
	RefusalTooLarge      = "too_large"
	RefusalNotFound      = "not_found"
	RefusalMethod        = "method_not_allowed"
	RefusalBusy          = "busy"
	RefusalInternal      = "internal"
	// RefusalBadResponse is the client's own code for an answer that was not the setup
	// API's (a proxy, another program); no server sends it.
	RefusalBadResponse = "bad_response"
)

// Config is what a setup client learns before it asks anything of the user.
type Config struct {
	// SignIn is the identity provider to sign in with; nil when only setup codes work.
	SignIn *SignInConfig `json:"signIn,omitempty"`
}

// SignInConfig names the OpenID Connect app: the client runs the device flow against the
// issuer's discovery document with this client id.
type SignInConfig struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientId"`
}

// SignInRequest trades a verified ID token for a code.
type SignInRequest struct {
	IDToken string `json:"idToken"`
	Purpose string `json:"purpose"` // PurposeSetup or PurposeRecover
}

// SignInResponse is the code the sign-in earned, and the login to present it with. It is
// an ordinary code (single use, few attempts), valid for db.SignInCodeTTL.
type SignInResponse struct {
	Email       string    `json:"email"` // the user's userName: what begin and complete take as email
	Code        string    `json:"code"`
	Purpose     string    `json:"purpose"`
	Expires     time.Time `json:"expires"`
	UserName    string    `json:"userName"`
	DisplayName string    `json:"displayName,omitempty"`
}

// Sign-in error codes (besides the shared ones, such as user_deactivated).
const (
	RefusalSignInOff     = "signin_unavailable"
	RefusalInvalidToken  = "invalid_token"
	RefusalUnverified    = "email_unverified"
	RefusalUnknownUser   = "unknown_user"
	RefusalAmbiguousUser = "ambiguous_user"
	RefusalTokenUsed     = "token_used"
	RefusalIdPDown       = "idp_unreachable"
)
