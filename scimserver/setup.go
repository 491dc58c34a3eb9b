package scimserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"scimdesk/db"
	"scimdesk/keys"
	"scimdesk/setupapi"
)

// The setup API, beside SCIM under /setup/v1/, is how a pending user's terminal uploads the
// master key it made (and how a ready user replaces a forgotten passphrase). It is not
// SCIM: it works with provisioning switched off, and it is authenticated by the user's
// one-time code alone, never by a SCIM token.
//
// It accepts a public key and wrapped blobs and nothing else: unknown JSON fields are
// refused, so a client cannot send a passphrase or a private key even by mistake.
//
//	POST /setup/v1/begin     {email, code, purpose}                  -> setupapi.BeginResponse
//	POST /setup/v1/complete  {email, code, purpose, userId, bundle}  -> setupapi.CompleteResponse
//
// begin checks the code without using it up (a wrong code costs nothing; a wrong email
// with a real code costs that code an attempt) and tells the client the user id its blobs
// must be bound to; complete checks it again and, in one transaction, stores the key,
// spends the code and records the event. Errors are setupapi.ErrorBody.

// setupMaxBody bounds a setup request: a bundle is well under 2 KiB of JSON.
const setupMaxBody = 64 << 10

// Rate limits. Per client: a person needs two requests, a few more with typos, and what
// makes guessing a code hopeless is its 90 random bits; the limit keeps a sweep slow and
// the audit log short. It is generous because behind a reverse proxy that does not send
// X-Forwarded-For every user shares the proxy's address, and a team may set up at the same
// time. IPv6 clients are counted per /64, the block one host usually owns.
//
// Globally: a client that rotates addresses (a /48 of IPv6, or X-Forwarded-For through a
// local proxy) gets past the per-client limit, so all clients together get a budget too.
// It is sized for a whole team onboarding in the same minute; under a flood it makes real
// users wait too, which is the price of keeping the database and the log out of reach.
const (
	setupRatePerMinute   = 20
	setupBurst           = 10
	setupGlobalPerMinute = 300
	setupGlobalBurst     = 100
)

// MinKDF is the weakest argon2id cost the server stores in a passphrase blob (OWASP's
// minimum: 2 passes over 19 MiB). The blob sits in the database; a client that chose
// cheaper parameters would leave the passphrase open to fast offline guessing.
func MinKDF() keys.Params { return keys.Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1} }

// setupAPI serves /setup/v1/.
type setupAPI struct {
	s      *Server
	now    func() time.Time
	limit  *rateLimiter // per client (address, or /64 for IPv6)
	global *rateLimiter // all clients together, under the single key ""
	minKDF keys.Params
	// refused is the server's setupRefused: its own log, so that a flood of bad SCIM
	// tokens cannot hide these, and the server's, so that the heartbeat flushes it.
	refused *refusedLog
	idp     *idp // verifies sign-ins with the identity provider
	cfg     configCache
}

// setupAPI is the handler Handler mounts at /setup/v1/.
func (s *Server) setupAPI() http.Handler {
	return &setupAPI{s: s, now: time.Now, minKDF: MinKDF(), refused: &s.setupRefused, idp: newIDP(),
		limit:  newRateLimiter(setupRatePerMinute, time.Minute, setupBurst),
		global: newRateLimiter(setupGlobalPerMinute, time.Minute, setupGlobalBurst)}
}

// ServeHTTP counts the request for the heartbeat, applies the rate limit and routes.
func (a *setupAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := a.now()
	c := &call{addr: clientAddr(r), agent: truncate(r.UserAgent(), 200)}
	a.s.requests.Add(1)
	a.s.mu.Lock()
	a.s.lastAt, a.s.lastUA = now, c.agent
	a.s.mu.Unlock()
	a.refused.flush(r.Context(), a.s)

	if r.URL.Path == "/setup/v1/config" {
		// Before the rate limit: asking costs nothing but a cached read, and it must not use
		// up the attempts that the code and sign-in checks are counted in.
		a.config(w, r, c)
		return
	}
	if !a.admit(w, r, c, now) {
		return
	}
	var handle func(http.ResponseWriter, *http.Request, *call)
	switch r.URL.Path {
	case "/setup/v1/begin":
		handle = a.begin
	case "/setup/v1/complete":
		handle = a.complete
	case "/setup/v1/signin":
		handle = a.signIn
	default:
		writeSetupError(w, http.StatusNotFound, setupapi.ErrorBody{Error: setupapi.RefusalNotFound, Message: "no such setup endpoint: " + truncate(r.URL.Path, 100)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeSetupError(w, http.StatusMethodNotAllowed, setupapi.ErrorBody{Error: setupapi.RefusalMethod, Message: "use POST"})
		return
	}
	handle(w, r, c)
}

// admit applies the per-client limit, then the global one (so that a client over its own
// limit does not use up everyone's budget), and answers 429 itself when one refuses. Such
// refusals are audited through the throttled log, so that a flood shows in the console.
func (a *setupAPI) admit(w http.ResponseWriter, r *http.Request, c *call, now time.Time) bool {
	ok, wait := a.limit.allow(limiterKey(c.addr), now)
	whose := "your address"
	if ok {
		ok, wait = a.global.allow("", now)
		whose = "all clients together"
	}
	if ok {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	msg := fmt.Sprintf("too many requests from %s: wait %s and try again", whose, seconds(secs))
	a.refused.add(r.Context(), a.s, c.event("setup.rate_limited", "", http.StatusTooManyRequests, "refused: "+msg))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeSetupError(w, http.StatusTooManyRequests, setupapi.ErrorBody{Error: setupapi.RefusalRateLimited, RetryAfter: secs, Message: msg})
	return false
}

func (a *setupAPI) begin(w http.ResponseWriter, r *http.Request, c *call) {
	var req setupapi.BeginRequest
	if !decodeSetup(w, r, &req) {
		return
	}
	if msg := checkCodeFields(req.Email, req.Code, req.Purpose); msg != "" {
		writeSetupError(w, http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalBadRequest, Message: msg})
		return
	}
	u, err := a.s.db.CheckSetupCode(r.Context(), req.Email, req.Code, req.Purpose, a.now())
	if err != nil {
		a.refuse(w, r, c, req.Email, req.Purpose, err)
		return
	}
	resp := setupapi.BeginResponse{UserID: u.ID, UserName: u.UserName, DisplayName: u.DisplayName, Purpose: req.Purpose, MinKDF: a.minKDF}
	if req.Purpose == db.PurposeRecover {
		k, err := a.s.db.UserKey(r.Context(), u.ID)
		if err != nil {
			a.refuse(w, r, c, req.Email, req.Purpose, err)
			return
		}
		sk := &setupapi.StoredKey{Alg: k.Alg, PublicKey: k.PublicKey}
		if err := json.Unmarshal([]byte(k.Recovery), &sk.Recovery); err != nil {
			a.refuse(w, r, c, req.Email, req.Purpose, fmt.Errorf("stored recovery blob of %s: %w", u.ID, err))
			return
		}
		resp.Key = sk
	}
	writeSetupJSON(w, http.StatusOK, resp)
}

// errUserMismatch and errKeyMismatch refuse a complete from inside its transaction.
var (
	errUserMismatch = errors.New("the key is for another user: start again with begin")
	errKeyMismatch  = errors.New("a recovery must keep the stored public key and recovery blob")
)

func (a *setupAPI) complete(w http.ResponseWriter, r *http.Request, c *call) {
	var req setupapi.CompleteRequest
	if !decodeSetup(w, r, &req) {
		return
	}
	if msg := checkCodeFields(req.Email, req.Code, req.Purpose); msg != "" {
		writeSetupError(w, http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalBadRequest, Message: msg})
		return
	}
	if req.UserID == "" {
		writeSetupError(w, http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalBadRequest, Message: "userId is required (begin returns it)"})
		return
	}
	// The key material is checked before the code, so that a broken upload costs no attempt.
	b := req.Bundle
	if err := b.Validate(); err != nil {
		a.refuse(w, r, c, req.Email, req.Purpose, &setupProblem{http.StatusBadRequest, setupapi.RefusalInvalidBundle, "the key material is malformed: " + err.Error()})
		return
	}
	if kdf := b.Passphrase.KDF; kdf == nil || kdf.Time < a.minKDF.Time || kdf.MemoryKiB < a.minKDF.MemoryKiB || kdf.Threads < a.minKDF.Threads {
		a.refuse(w, r, c, req.Email, req.Purpose, &setupProblem{http.StatusBadRequest, setupapi.RefusalWeakKDF,
			fmt.Sprintf("the passphrase blob's argon2id cost is below the minimum (%d passes, %d KiB)", a.minKDF.Time, a.minKDF.MemoryKiB)})
		return
	}
	passBlob, err1 := json.Marshal(b.Passphrase)
	recBlob, err2 := json.Marshal(b.Recovery)
	if err := errors.Join(err1, err2); err != nil {
		a.refuse(w, r, c, req.Email, req.Purpose, err)
		return
	}
	kind := setupKind(req.Purpose)
	var userName string
	err := a.s.db.RedeemSetupCode(r.Context(), req.Email, req.Code, req.Purpose, a.now(), func(tx *db.Tx, u db.User) error {
		userName = u.UserName
		if u.ID != req.UserID {
			return errUserMismatch
		}
		summary := "master key set up: " + u.UserName + " is ready"
		if req.Purpose == db.PurposeSetup {
			if err := tx.InsertUserKey(r.Context(), u.Seq, db.UserKey{Alg: b.KeyAlg, PublicKey: b.PublicKey,
				Passphrase: string(passBlob), Recovery: string(recBlob)}); err != nil {
				return err
			}
		} else {
			k, err := tx.UserKey(r.Context(), u.Seq)
			if err != nil {
				return err
			}
			if k.Alg != b.KeyAlg || !bytes.Equal(k.PublicKey, b.PublicKey) || !sameJSON(k.Recovery, recBlob) {
				return errKeyMismatch
			}
			if err := tx.SetPassphraseBlob(r.Context(), u.Seq, string(passBlob)); err != nil {
				return err
			}
			summary = "passphrase replaced with the recovery key: " + u.UserName + " is ready again"
		}
		return tx.InsertEvent(r.Context(), c.event(kind, u.UserName, http.StatusOK, summary))
	})
	if err != nil {
		subject := req.Email
		if userName != "" {
			subject = userName
		}
		a.refuse(w, r, c, subject, req.Purpose, err)
		return
	}
	a.s.log.InfoContext(r.Context(), "master key stored", "kind", kind, "user", userName, "addr", c.addr)
	a.s.published()
	writeSetupJSON(w, http.StatusOK, setupapi.CompleteResponse{UserID: req.UserID, UserName: userName, Status: db.StatusReady})
}

// sameJSON reports whether the stored blob and the uploaded one are the same blob. Both
// were encoded from keys.WrappedKey by encoding/json, so equal blobs are equal bytes;
// decoding first makes the check indifferent to how an older server stored it.
func sameJSON(stored string, uploaded []byte) bool {
	var w keys.WrappedKey
	if json.Unmarshal([]byte(stored), &w) != nil {
		return false
	}
	again, err := json.Marshal(w)
	return err == nil && bytes.Equal(again, uploaded)
}

func setupKind(purpose string) string {
	if purpose == db.PurposeRecover {
		return "user.key_recover"
	}
	return "user.key_setup"
}

// checkCodeFields checks the fields every request has; "" if they are fine.
func checkCodeFields(email, code, purpose string) string {
	switch {
	case strings.TrimSpace(email) == "":
		return "email is required"
	case len(email) > 320:
		return "email is too long"
	case strings.TrimSpace(code) == "":
		return "code is required"
	case purpose != db.PurposeSetup && purpose != db.PurposeRecover:
		return `purpose must be "setup" or "recover"`
	}
	return ""
}

// setupProblem is a refusal decided by the handler rather than by the code check.
type setupProblem struct {
	status int
	code   string
	msg    string
}

func (p *setupProblem) Error() string { return p.msg }

// refuse answers a refused request and records it (throttled) in the audit log. who is
// the matched userName or the email as typed; the code never goes into the log.
func (a *setupAPI) refuse(w http.ResponseWriter, r *http.Request, c *call, who, purpose string, err error) {
	a.refuseAs(w, r, c, setupKind(purpose), who, err)
}

// refuseAs is refuse with the event's kind given.
func (a *setupAPI) refuseAs(w http.ResponseWriter, r *http.Request, c *call, kind, who string, err error) {
	status, body := setupRefusal(err)
	if status >= 500 {
		a.s.logErr(r.Context(), "setup request", err, "path", truncate(r.URL.Path, logValueBytes))
	}
	var ce *db.CodeError
	if errors.As(err, &ce) && ce.UserName != "" {
		who = ce.UserName
	}
	var se *db.SignInError
	if errors.As(err, &se) && se.UserName != "" {
		who = se.UserName
	}
	if _, notEmail := db.NormalizeSetupCode(who); notEmail == nil {
		who = "" // someone typed their code into the email field: keep it out of the log
	}
	a.refused.add(r.Context(), a.s, c.event(kind, truncate(who, 100), status, "refused: "+truncate(body.Message, 200)))
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(body.RetryAfter))
	}
	writeSetupError(w, status, body)
}

// setupRefusal maps an error to its status and body, once, at the edge.
func setupRefusal(err error) (int, setupapi.ErrorBody) {
	var p *setupProblem
	if errors.As(err, &p) {
		return p.status, setupapi.ErrorBody{Error: p.code, Message: p.msg}
	}
	if status, body, ok := signInRefusal(err); ok {
		return status, body
	}
	var ce *db.CodeError
	if errors.As(err, &ce) {
		body := setupapi.ErrorBody{Message: ce.Error()}
		status := http.StatusForbidden
		switch {
		case errors.Is(err, db.ErrCodeFormat):
			status, body.Error = http.StatusBadRequest, setupapi.RefusalCodeFormat
		case errors.Is(err, db.ErrCodeTypo):
			status, body.Error = http.StatusBadRequest, setupapi.RefusalCodeTypo
		case errors.Is(err, db.ErrCodeUnknown):
			// The same answer for every email: nothing about anyone's code is told.
			body.Error = setupapi.RefusalInvalidCode
		case errors.Is(err, db.ErrCodeEmail):
			body.Error = setupapi.RefusalEmailMismatch
			n := ce.AttemptsLeft
			body.AttemptsLeft = &n
		case errors.Is(err, db.ErrCodeExhausted):
			body.Error, body.Message = setupapi.RefusalExhausted, "too many wrong emails with this code: ask your admin for a new code"
		case errors.Is(err, db.ErrCodeExpired):
			status, body.Error, body.Message = http.StatusGone, setupapi.RefusalExpired, "code expired: ask your admin for a new one"
		case errors.Is(err, db.ErrCodeUsed):
			status, body.Error, body.Message = http.StatusGone, setupapi.RefusalUsed, "code already used: ask your admin for a new one"
		case errors.Is(err, db.ErrCodePurpose):
			status, body.Error, body.Purpose = http.StatusConflict, setupapi.RefusalWrongPurpose, ce.Purpose
			body.Message = fmt.Sprintf("this is a %s code", map[string]string{db.PurposeSetup: "setup", db.PurposeRecover: "recovery"}[ce.Purpose])
		case errors.Is(err, db.ErrUserDeactivated):
			body.Error, body.Message = setupapi.RefusalDeactivated, "your account is deactivated: ask your admin"
		case errors.Is(err, db.ErrUserReady):
			status, body.Error, body.Message = http.StatusConflict, setupapi.RefusalAlreadyReady, "your key is already set up"
		case errors.Is(err, db.ErrUserNoKey):
			status, body.Error, body.Message = http.StatusConflict, setupapi.RefusalNoKey, "you have no key to recover yet"
		default:
			return http.StatusInternalServerError, setupapi.ErrorBody{Error: setupapi.RefusalInternal, Message: "internal error; the server log has the details"}
		}
		return status, body
	}
	switch {
	case errors.Is(err, errUserMismatch):
		return http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalUserMismatch, Message: err.Error()}
	case errors.Is(err, errKeyMismatch):
		return http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalKeyMismatch, Message: err.Error()}
	case errors.Is(err, db.ErrNotFound):
		// The user (and so the key) went away between the code check and the read.
		return http.StatusForbidden, setupapi.ErrorBody{Error: setupapi.RefusalInvalidCode, Message: db.ErrCodeUnknown.Error()}
	case errors.Is(err, db.ErrConflict):
		// Two completes raced for one code: the loser finds the key already there.
		return http.StatusConflict, setupapi.ErrorBody{Error: setupapi.RefusalAlreadyReady, Message: "your key is already set up"}
	case errors.Is(err, db.ErrBusy), errors.Is(err, db.ErrWriteBudget), errors.Is(err, db.ErrReadBudget):
		return http.StatusServiceUnavailable, setupapi.ErrorBody{Error: setupapi.RefusalBusy, Message: "the server's database is busy: try again"}
	}
	return http.StatusInternalServerError, setupapi.ErrorBody{Error: setupapi.RefusalInternal, Message: "internal error; the server log has the details"}
}

// decodeSetup reads a body of at most setupMaxBody bytes into v, refusing unknown fields,
// and answers the error itself if it cannot.
func decodeSetup(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, setupMaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeSetupError(w, http.StatusRequestEntityTooLarge, setupapi.ErrorBody{Error: setupapi.RefusalTooLarge,
				Message: fmt.Sprintf("the request body is larger than %d bytes", setupMaxBody)})
		} else {
			writeSetupError(w, http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalBadRequest, Message: "could not read the request body"})
		}
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "the body is not the expected JSON object: " + jsonProblem(err)
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			msg = "unknown field " + truncate(f, 60) + ": the setup API takes only the email, the code, the user id and the public key with its wrapped blobs"
		}
		writeSetupError(w, http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalBadRequest, Message: msg})
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeSetupError(w, http.StatusBadRequest, setupapi.ErrorBody{Error: setupapi.RefusalBadRequest, Message: "the body has data after the JSON object"})
		return false
	}
	return true
}

func writeSetupJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal","message":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

func writeSetupError(w http.ResponseWriter, status int, body setupapi.ErrorBody) {
	writeSetupJSON(w, status, body)
}

// rateLimiter is a token bucket per key, in memory: it only has to slow down guessing and
// keep floods off the database. Its memory is bounded by maxBuckets.
type rateLimiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the limiter's memory (about 100 bytes a bucket) under a flood from many
// addresses; the global limit still holds when the per-client buckets have to be dropped.
const maxBuckets = 10000

func newRateLimiter(n int, per time.Duration, burst int) *rateLimiter {
	return &rateLimiter{rate: float64(n) / per.Seconds(), burst: float64(burst), buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is there.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// prune forgets the buckets that have refilled (they are as good as new). If that frees
// less than half the map, it forgets them all: otherwise a flood that keeps its buckets
// busy would make every new address pay for a walk over the whole map.
func (l *rateLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) > maxBuckets/2 {
		clear(l.buckets)
	}
}

// limiterKey is the rate-limit key of a client address: the address itself for IPv4, and
// its /64 for IPv6, since one host or home network usually owns a whole /64 and could
// otherwise change address for every request.
func limiterKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	switch {
	case err != nil:
		return addr // not an address (a unix socket, say): as it is
	case ip.Is4() || ip.Is4In6():
		return ip.Unmap().String()
	}
	p, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

func seconds(n int) string {
	if n == 1 {
		return "1 second"
	}
	return strconv.Itoa(n) + " seconds"
}
