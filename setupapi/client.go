package setupapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"scimdesk/keys"
)

// The client side of the setup API. `scimdesk setup` and `scimdesk recover`, the
// interactive flow and the scripted mode, all talk through Client. It shares only the
// wire types with the server, so a client never links the server.

// DefaultServer is the server `scimdesk setup` talks to unless told otherwise: the
// local server on its default address.
const DefaultServer = "http://127.0.0.1:8080"

// Client talks to one scimdesk server's setup API.
type Client struct {
	base string // scheme://host[:port][/prefix], no trailing slash
	http *http.Client
}

// NewClient makes a client for the server at serverURL (http or https; a bare
// host:port means https, except on the loopback interface). caFile, if set, is a PEM file
// of CA certificates to trust besides the system's, for a server with a private CA.
func NewClient(serverURL, caFile string) (*Client, error) {
	base, err := NormalizeServerURL(serverURL)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read --ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &Client{base: base, http: &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		// A redirect would turn the POST into a GET (and could send the code elsewhere):
		// tell the user where the server points instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// BaseURL is the server's URL as the client uses it.
func (c *Client) BaseURL() string { return c.base }

// NormalizeServerURL checks a server URL as typed and returns it without a trailing slash.
func NormalizeServerURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("the server URL is empty")
	}
	if !strings.Contains(s, "://") {
		scheme := "https://"
		if host, _, err := net.SplitHostPort(s); (err == nil && isLoopback(host)) || isLoopback(s) {
			scheme = "http://"
		}
		s = scheme + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not a server URL: give one like https://scim.example.com or http://127.0.0.1:8080", s)
	}
	// The URL an admin most often has at hand is the SCIM URL; the setup API sits beside
	// SCIM under the same base, so accept it too.
	path := strings.TrimRight(u.EscapedPath(), "/")
	path = strings.TrimSuffix(path, "/scim/v2")
	return strings.TrimRight(u.Scheme+"://"+u.Host+path, "/"), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Begin checks email and code with the server and returns who they belong to. A wrong
// email with a real code costs that code an attempt; nothing else is changed.
func (c *Client) Begin(ctx context.Context, email, code, purpose string) (*BeginResponse, error) {
	var out BeginResponse
	if err := c.post(ctx, "/setup/v1/begin", BeginRequest{Email: email, Code: code, Purpose: purpose}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Complete uploads the public key and wrapped blobs; on success the user is ready and the
// code is spent.
func (c *Client) Complete(ctx context.Context, req CompleteRequest) (*CompleteResponse, error) {
	var out CompleteResponse
	if err := c.post(ctx, "/setup/v1/complete", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "scimdesk-setup/1")
	res, err := c.http.Do(req)
	if err != nil {
		return &ConnError{URL: c.base, Err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return &ConnError{URL: c.base, Err: err}
	}
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			return &Error{Status: res.StatusCode, Code: RefusalBadResponse, AttemptsLeft: -1,
				Message: fmt.Sprintf("the server at %s answered something that is not scimdesk's setup API: is the URL right?", c.base)}
		}
		return nil
	}
	return responseError(c.base, res, raw)
}

// responseError turns a refusal, or a reply that is not the setup API's, into an Error.
func responseError(base string, res *http.Response, raw []byte) *Error {
	e := &Error{Status: res.StatusCode, AttemptsLeft: -1}
	var body ErrorBody
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		e.Code, e.Message, e.Purpose = body.Error, body.Message, body.Purpose
		if body.AttemptsLeft != nil {
			e.AttemptsLeft = *body.AttemptsLeft
		}
		if body.RetryAfter > 0 {
			e.RetryAfter = time.Duration(body.RetryAfter) * time.Second
		}
		return e
	}
	// Not our JSON: something else answered (a proxy, another program, HTTP on an HTTPS port).
	e.Code = RefusalBadResponse
	switch {
	case res.StatusCode >= 300 && res.StatusCode < 400:
		e.Message = fmt.Sprintf("the server redirects to %s: use that address with --server", res.Header.Get("Location"))
	case res.StatusCode == http.StatusBadRequest && bytes.Contains(raw, []byte("HTTPS server")):
		e.Message = fmt.Sprintf("the server speaks HTTPS: use %s", strings.Replace(base, "http://", "https://", 1))
	case res.StatusCode == http.StatusTooManyRequests:
		e.Code, e.Message = RefusalRateLimited, "too many requests: wait a minute and try again"
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	case res.StatusCode == http.StatusBadGateway || res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusGatewayTimeout:
		e.Message = fmt.Sprintf("the proxy in front of %s cannot reach scimdesk (HTTP %d): is scimdesk running?", base, res.StatusCode)
	default:
		e.Message = fmt.Sprintf("the server at %s does not offer scimdesk's setup API (HTTP %d): is the URL right, and is the server up to date?", base, res.StatusCode)
	}
	return e
}

// Error is the server's refusal (or an answer that was not the setup API's).
type Error struct {
	Status       int
	Code         string // the ErrorBody code, or bad_response
	Message      string // the server's sentence
	AttemptsLeft int    // with email_mismatch: wrong emails the code still survives; -1 when not told
	Purpose      string // with wrong_purpose: the code's purpose
	RetryAfter   time.Duration
}

// Error is the refusal in words a user can act on.
func (e *Error) Error() string {
	switch e.Code {
	case RefusalInvalidCode:
		// The server tells nothing more about a code it does not know, whatever the email.
		return "unknown code: check it, or ask your admin for a new one (a code from before this version no longer works)"
	case RefusalCodeTypo:
		return "the code has a typo (its last two characters do not match the rest): check it letter by letter"
	case RefusalCodeFormat:
		return "that is not a code: a code is 20 letters and digits, like " + CodeExample
	case RefusalEmailMismatch:
		left := "no attempts left"
		switch {
		case e.AttemptsLeft == 1:
			left = "1 attempt left"
		case e.AttemptsLeft > 1:
			left = fmt.Sprintf("%d attempts left", e.AttemptsLeft)
		}
		return "this code was issued for another email: type the email or user name your admin has for you (" + left + ")"
	case RefusalExhausted:
		return "too many wrong attempts: this code no longer works, ask your admin for a new one"
	case RefusalExpired:
		return "code expired: ask your admin for a new one"
	case RefusalUsed:
		return "code already used: ask your admin for a new one"
	case RefusalWrongPurpose:
		if e.Purpose == PurposeRecover {
			return "this is a recovery code: run `scimdesk recover` instead"
		}
		return "this is a setup code: run `scimdesk setup` instead"
	case RefusalDeactivated:
		return "your account is deactivated: ask your admin"
	case RefusalAlreadyReady:
		return "your key is already set up; if you forgot your passphrase, ask your admin for a recovery code and run `scimdesk recover`"
	case RefusalNoKey:
		return "you have no key to recover yet: ask your admin for a setup code and run `scimdesk setup`"
	case RefusalRateLimited:
		if e.RetryAfter > 0 {
			return fmt.Sprintf("too many setup attempts reach the server: wait %s and try again", e.RetryAfter.Round(time.Second))
		}
		return "too many setup attempts reach the server: wait a minute and try again"
	case RefusalBusy:
		return "the server is busy: try again in a moment"
	case RefusalBadResponse:
		return e.Message
	}
	if e.Message != "" {
		return fmt.Sprintf("the server refused: %s", e.Message)
	}
	return fmt.Sprintf("the server refused (HTTP %d)", e.Status)
}

// Field says which input a user should change after this refusal: "email", "code", or ""
// when no input of theirs is at fault.
func (e *Error) Field() string {
	switch e.Code {
	case RefusalInvalidCode, RefusalCodeFormat, RefusalCodeTypo, RefusalExhausted, RefusalExpired, RefusalUsed, RefusalWrongPurpose:
		return "code"
	case RefusalEmailMismatch:
		return "email"
	case RefusalBadResponse:
		return "server"
	}
	return ""
}

// ConnError is a failure to talk to the server at all, explained.
type ConnError struct {
	URL string
	Err error
}

// Unwrap gives the transport error.
func (e *ConnError) Unwrap() error { return e.Err }

// Error says what went wrong and what to do about it, without Go's error chains.
func (e *ConnError) Error() string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		recordErr tls.RecordHeaderError
		dnsErr    *net.DNSError
		verifyErr *tls.CertificateVerificationError
	)
	err := e.Err
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Sprintf("the certificate of %s is not trusted (signed by an unknown authority): if your organisation uses its own CA, pass its certificate with --ca-file", e.URL)
	case errors.As(err, &hostErr):
		return fmt.Sprintf("the certificate of %s is not valid for that name (%v): check the server URL", e.URL, hostErr.Error())
	case errors.As(err, &invalid):
		return fmt.Sprintf("the certificate of %s is not valid: %v", e.URL, invalid.Error())
	case errors.As(err, &verifyErr):
		return fmt.Sprintf("the certificate of %s could not be verified: %v", e.URL, verifyErr.Err)
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("%s does not speak HTTPS: try %s", e.URL, strings.Replace(e.URL, "https://", "http://", 1))
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot reach the server at %s: is scimdesk running?", e.URL)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot find the host %s: check the server URL", dnsErr.Name)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Sprintf("the server at %s did not answer in time: check the URL and your network", e.URL)
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	var tlsErr tls.AlertError
	if errors.As(err, &tlsErr) {
		return fmt.Sprintf("the TLS handshake with %s failed (%v): check the server URL", e.URL, tlsErr)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // "Post URL: ..." repeats what the sentence already says
	}
	return fmt.Sprintf("cannot talk to the server at %s: %v", e.URL, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// KDFParams are the argon2id parameters a client uses: its own choice, raised field by
// field to the server's minimum, so that neither side alone can make the blob cheap.
func KDFParams(own, serverMin keys.Params) keys.Params {
	return keys.Params{Time: max(own.Time, serverMin.Time), MemoryKiB: max(own.MemoryKiB, serverMin.MemoryKiB), Threads: max(own.Threads, serverMin.Threads)}
}

// RecoverBundle is the client side of a recovery: it opens the stored recovery blob with
// the recovery key, checks the private key against the stored public key, wraps it under
// the new passphrase and verifies the result. The bundle it returns keeps the stored
// public key and recovery blob, as complete requires.
func RecoverBundle(userID string, k StoredKey, rk keys.RecoveryKey, newPassphrase []byte, p keys.Params) (keys.Bundle, error) {
	priv, err := keys.UnwrapWithRecoveryKey(k.Recovery, userID, rk)
	if err != nil {
		return keys.Bundle{}, err
	}
	defer clear(priv)
	pub, err := keys.PublicKey(k.Alg, priv)
	if err != nil {
		return keys.Bundle{}, err
	}
	if subtle.ConstantTimeCompare(pub, k.PublicKey) != 1 {
		return keys.Bundle{}, keys.ErrKeyMismatch
	}
	pw, err := keys.WrapWithPassphrase(userID, priv, newPassphrase, p)
	if err != nil {
		return keys.Bundle{}, err
	}
	b := keys.Bundle{KeyAlg: k.Alg, PublicKey: k.PublicKey, Passphrase: pw, Recovery: k.Recovery}
	if err := keys.VerifyBundle(b, userID, newPassphrase, rk); err != nil {
		return keys.Bundle{}, fmt.Errorf("the new key failed its round trip: %w", err)
	}
	return b, nil
}
