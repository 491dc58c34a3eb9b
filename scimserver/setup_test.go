package scimserver

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"scimdesk/internal/teststore"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/keys"
	"scimdesk/setupapi"
)

// cheapKDF keeps argon2id fast in tests that mount their own setupAPI with this minimum.
var cheapKDF = keys.Params{Time: 1, MemoryKiB: 64, Threads: 1}

const testPassphrase = "cobalt lemur visor tundra"

// setupEnv is a real server plus a setup API mounted on its own httptest server, with a
// clock and a rate limit the test controls.
type setupEnv struct {
	*testEnv
	api  *setupAPI
	base string
	now  time.Time
}

func newSetupEnv(t *testing.T) *setupEnv {
	t.Helper()
	return newSetupEnvOn(t, teststore.Engines[0])
}

func newSetupEnvOn(t *testing.T, engine teststore.Engine) *setupEnv {
	t.Helper()
	se := &setupEnv{testEnv: newEnvOn(t, engine), now: time.Now()}
	se.api = &setupAPI{s: se.srv, now: func() time.Time { return se.now }, minKDF: cheapKDF, refused: &se.srv.setupRefused,
		limit: newRateLimiter(10000, time.Minute, 10000), global: newRateLimiter(10000, time.Minute, 10000), idp: newIDP()}
	ts := httptest.NewServer(se.api)
	t.Cleanup(ts.Close)
	se.base = ts.URL
	return se
}

// pendingUser is a user provisioned over SCIM, holding a fresh code.
type pendingUser struct {
	id, userName, email, code string
}

func (se *setupEnv) provision(name string, purpose string) *pendingUser {
	t := se.t
	t.Helper()
	r := se.do("POST", "/Users", jsonBody(map[string]any{
		"schemas": []string{URNUser}, "userName": name, "displayName": "Test " + name,
		"emails": []any{map[string]any{"value": name + "@example.com", "primary": true}},
	}))
	if r.status != http.StatusCreated {
		t.Fatalf("provision %s: %d %s", name, r.status, r.raw)
	}
	u := &pendingUser{id: r.json["id"].(string), userName: name, email: name + "@example.com"}
	if purpose == db.PurposeRecover {
		se.setUp(u)
	}
	if purpose != "" {
		_, code, err := se.db.IssueSetupCode(context.Background(), u.id, purpose, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		u.code = code
	}
	return u
}

// setUp gives u a key directly in the database, as a finished setup would.
func (se *setupEnv) setUp(u *pendingUser) keys.RecoveryKey {
	b, rk, err := keys.NewBundle(u.id, []byte(testPassphrase), cheapKDF)
	if err != nil {
		se.t.Fatal(err)
	}
	pw, _ := json.Marshal(b.Passphrase)
	rw, _ := json.Marshal(b.Recovery)
	err = se.db.Write(context.Background(), func(tx *db.Tx) error {
		du, err := tx.UserByID(context.Background(), u.id)
		if err != nil {
			return err
		}
		return tx.InsertUserKey(context.Background(), du.Seq, db.UserKey{Alg: b.KeyAlg, PublicKey: b.PublicKey, Passphrase: string(pw), Recovery: string(rw)})
	})
	if err != nil {
		se.t.Fatal(err)
	}
	return rk
}

func (se *setupEnv) bundle(userID string) keys.Bundle {
	b, _, err := keys.NewBundle(userID, []byte(testPassphrase), cheapKDF)
	if err != nil {
		se.t.Fatal(err)
	}
	return b
}

type setupReply struct {
	status int
	header http.Header
	raw    string
	body   setupapi.ErrorBody
}

func (se *setupEnv) post(base, path, body string) setupReply {
	se.t.Helper()
	return se.send(base, http.MethodPost, path, body)
}

func (se *setupEnv) send(base, method, path, body string) setupReply {
	se.t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		se.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		se.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := setupReply{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		se.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if res.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &r.body); err != nil || r.body.Error == "" || r.body.Message == "" {
			se.t.Errorf("%s %s: error body %q is not {error, message}", method, path, raw)
		}
	}
	if res.StatusCode >= 500 {
		se.t.Errorf("%s %s: server error %d: %s", method, path, res.StatusCode, raw)
	}
	return r
}

func beginBody(u *pendingUser, purpose string) string {
	return jsonBody(setupapi.BeginRequest{Email: u.email, Code: u.code, Purpose: purpose})
}

func completeBody(u *pendingUser, purpose string, b keys.Bundle) string {
	return jsonBody(setupapi.CompleteRequest{Email: u.email, Code: u.code, Purpose: purpose, UserID: u.id, Bundle: b})
}

// keyCount is how many master keys the database holds.
func (se *setupEnv) keyCount() int {
	n := 0
	users, _, err := se.db.ListUsers(context.Background(), db.Where{}, db.Page{Limit: 100})
	if err != nil {
		se.t.Fatal(err)
	}
	for _, u := range users {
		if u.HasKey {
			n++
		}
	}
	return n
}

func (se *setupEnv) events(kind string) []db.Event {
	evs, err := se.db.EventsBefore(context.Background(), 0, 500)
	if err != nil {
		se.t.Fatal(err)
	}
	var out []db.Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestSetupHappyPath(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		se := newSetupEnvOn(t, engine)
		u := se.provision("alice", db.PurposeSetup)
		// Provisioning being off does not matter: the setup API is not SCIM.
		if err := se.db.SetSCIMEnabled(context.Background(), false, "test"); err != nil {
			t.Fatal(err)
		}
		// Two consoles follow the server (the local one and an SSH session, say): complete's
		// nudge must reach both. Subscribed now, they see no earlier nudge.
		nudge, unsubscribe := se.srv.Subscribe()
		defer unsubscribe()
		other, unsubscribeOther := se.srv.Subscribe()
		defer unsubscribeOther()

		c, err := setupapi.NewClient(se.base, "")
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		// The email in any case, the code in lower case with spaces: a person typed them.
		info, err := c.Begin(ctx, "ALICE@example.com", " "+strings.ToLower(u.code)+" ", db.PurposeSetup)
		if err != nil {
			t.Fatal(err)
		}
		if info.UserID != u.id || info.UserName != "alice" || info.DisplayName != "Test alice" || info.Purpose != db.PurposeSetup || info.MinKDF != cheapKDF || info.Key != nil {
			t.Fatalf("begin = %+v", info)
		}
		if got, _ := se.db.SetupCodeOf(ctx, u.id); got.AttemptsLeft != db.SetupCodeAttempts || !got.Used.IsZero() {
			t.Fatalf("begin changed the code: %+v", got)
		}
		b, rk, err := keys.NewBundle(info.UserID, []byte(testPassphrase), setupapi.KDFParams(cheapKDF, info.MinKDF))
		if err != nil {
			t.Fatal(err)
		}
		done, err := c.Complete(ctx, setupapi.CompleteRequest{Email: u.email, Code: u.code, Purpose: db.PurposeSetup, UserID: info.UserID, Bundle: b})
		if err != nil {
			t.Fatal(err)
		}
		if done.Status != db.StatusReady || done.UserName != "alice" {
			t.Fatalf("complete = %+v", done)
		}
		for _, ch := range []<-chan struct{}{nudge, other} {
			select {
			case <-ch:
			case <-time.After(time.Second):
				t.Error("complete did not nudge every console")
			}
		}
		du, _ := se.db.UserByID(ctx, u.id)
		if du.Status() != db.StatusReady {
			t.Fatalf("status %s", du.Status())
		}
		if code, _ := se.db.SetupCodeOf(ctx, u.id); code.Used.IsZero() {
			t.Fatal("code not spent")
		}
		// What is stored opens with the passphrase and with the recovery key.
		k, err := se.db.UserKey(ctx, u.id)
		if err != nil {
			t.Fatal(err)
		}
		var stored keys.Bundle
		stored.KeyAlg, stored.PublicKey = k.Alg, k.PublicKey
		if err := errors.Join(json.Unmarshal([]byte(k.Passphrase), &stored.Passphrase), json.Unmarshal([]byte(k.Recovery), &stored.Recovery)); err != nil {
			t.Fatal(err)
		}
		if err := keys.VerifyBundle(stored, u.id, []byte(testPassphrase), rk); err != nil {
			t.Fatalf("stored bundle: %v", err)
		}
		evs := se.events("user.key_setup")
		if len(evs) != 1 || evs[0].Failed() || evs[0].Subject != "alice" || !strings.Contains(evs[0].Summary, "ready") {
			t.Fatalf("events = %+v", evs)
		}

		// Recovery: a new passphrase from the recovery key; the public key and recovery blob stay.
		_, u.code, err = se.db.IssueSetupCode(ctx, u.id, db.PurposeRecover, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		rinfo, err := c.Begin(ctx, u.email, u.code, db.PurposeRecover)
		if err != nil {
			t.Fatal(err)
		}
		if rinfo.Key == nil || string(rinfo.Key.PublicKey) != string(k.PublicKey) {
			t.Fatalf("recovery begin = %+v", rinfo)
		}
		if strings.Contains(jsonBody(rinfo), keys.WrapPassphrase) {
			t.Fatal("recovery begin hands out the passphrase blob")
		}
		typed, err := keys.ParseRecoveryKey(strings.ToLower(rk.Text()))
		if err != nil {
			t.Fatal(err)
		}
		newPass := []byte("a brand new passphrase, please")
		nb, err := setupapi.RecoverBundle(rinfo.UserID, *rinfo.Key, typed, newPass, cheapKDF)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Complete(ctx, setupapi.CompleteRequest{Email: u.email, Code: u.code, Purpose: db.PurposeRecover, UserID: u.id, Bundle: nb}); err != nil {
			t.Fatal(err)
		}
		k2, _ := se.db.UserKey(ctx, u.id)
		if k2.Recovery != k.Recovery || string(k2.PublicKey) != string(k.PublicKey) || k2.Passphrase == k.Passphrase {
			t.Fatal("recovery changed more (or less) than the passphrase blob")
		}
		stored.Passphrase = keys.WrappedKey{}
		json.Unmarshal([]byte(k2.Passphrase), &stored.Passphrase)
		if err := keys.VerifyBundle(stored, u.id, newPass, rk); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		if _, err := stored.UnlockWithPassphrase(u.id, []byte(testPassphrase)); !errors.Is(err, keys.ErrWrongKey) {
			t.Fatalf("old passphrase still opens: %v", err)
		}
		if evs := se.events("user.key_recover"); len(evs) != 1 || evs[0].Failed() {
			t.Fatalf("recover events = %+v", evs)
		}

		// A recovery code is single use, like a setup code: whoever finds it afterwards (in a
		// chat, on a note) cannot set a passphrase of their own with it.
		if code, _ := se.db.SetupCodeOf(ctx, u.id); code.Used.IsZero() {
			t.Fatal("recovery code not spent")
		}
		nb2, err := setupapi.RecoverBundle(rinfo.UserID, *rinfo.Key, typed, []byte("the finder's passphrase"), cheapKDF)
		if err != nil {
			t.Fatal(err)
		}
		var se2 *setupapi.Error
		if _, err := c.Begin(ctx, u.email, u.code, db.PurposeRecover); !errors.As(err, &se2) || se2.Code != "code_used" {
			t.Errorf("recovery begin with a used code: %v", err)
		}
		if _, err := c.Complete(ctx, setupapi.CompleteRequest{Email: u.email, Code: u.code, Purpose: db.PurposeRecover, UserID: u.id, Bundle: nb2}); !errors.As(err, &se2) || se2.Code != "code_used" || se2.Status != http.StatusGone {
			t.Errorf("recovery complete with a used code: %v", err)
		}
		if k3, _ := se.db.UserKey(ctx, u.id); k3.Passphrase != k2.Passphrase {
			t.Error("a used recovery code replaced the passphrase again")
		}
		if evs := se.events("user.key_recover"); len(evs) != 3 || !evs[0].Failed() || evs[0].Status != http.StatusGone {
			t.Errorf("recover events after reuse = %+v", evs)
		}
	})
}

// TestSetupRefusals walks every refusal: each answers a JSON error with a clear code,
// stores no key, spends no code, costs an attempt only for a wrong code, and is audited.
func TestSetupRefusals(t *testing.T) {
	type state struct {
		se *setupEnv
		u  *pendingUser
	}
	wrongCode := func(code string) string { return otherCode(t, code) }
	cases := []struct {
		name     string
		purpose  string // the code issued ("setup" by default)
		prepare  func(s *state)
		method   string
		path     string
		body     func(s *state) string
		status   int
		code     string
		message  string // a fragment of the message
		attempts int    // left afterwards; default SetupCodeAttempts
		keys     int    // keys stored afterwards (default 0)
		noAudit  bool   // refused before anything is known (malformed request)
	}{
		{name: "malformed JSON", path: "/setup/v1/begin", body: func(*state) string { return `{"email": ` },
			status: 400, code: "bad_request", message: "not the expected JSON", noAudit: true},
		{name: "trailing data", path: "/setup/v1/begin", body: func(s *state) string { return beginBody(s.u, "setup") + "{}" },
			status: 400, code: "bad_request", noAudit: true},
		{name: "a passphrase field is refused", path: "/setup/v1/complete", body: func(s *state) string {
			return `{"email":"` + s.u.email + `","code":"` + s.u.code + `","purpose":"setup","userId":"` + s.u.id + `","passphrase":"hunter2"}`
		}, status: 400, code: "bad_request", message: `unknown field "passphrase"`, noAudit: true},
		{name: "a private key inside the bundle is refused", path: "/setup/v1/complete", body: func(s *state) string {
			return strings.Replace(completeBody(s.u, "setup", s.se.bundle(s.u.id)), `"pub":`, `"priv":"AAAA","pub":`, 1)
		}, status: 400, code: "bad_request", message: `unknown field "priv"`, noAudit: true},
		{name: "no email", path: "/setup/v1/begin", body: func(s *state) string { return `{"code":"` + s.u.code + `","purpose":"setup"}` },
			status: 400, code: "bad_request", message: "email is required", noAudit: true},
		{name: "unknown purpose", path: "/setup/v1/begin", body: func(s *state) string { return beginBody(s.u, "admin") },
			status: 400, code: "bad_request", message: "purpose", noAudit: true},
		{name: "complete without userId", path: "/setup/v1/complete", body: func(s *state) string {
			return jsonBody(setupapi.CompleteRequest{Email: s.u.email, Code: s.u.code, Purpose: "setup", Bundle: s.se.bundle(s.u.id)})
		}, status: 400, code: "bad_request", message: "userId", noAudit: true},
		{name: "code of the wrong shape costs nothing", path: "/setup/v1/begin", body: func(s *state) string {
			return jsonBody(setupapi.BeginRequest{Email: s.u.email, Code: "ABC", Purpose: "setup"})
		}, status: 400, code: "code_format"},
		{name: "code with a typo costs nothing", path: "/setup/v1/begin", body: func(s *state) string {
			return jsonBody(setupapi.BeginRequest{Email: s.u.email, Code: typoOf(s.u.code), Purpose: "setup"})
		}, status: 400, code: "code_typo", message: "typo"},
		{name: "right code, another email", path: "/setup/v1/begin", body: func(s *state) string {
			return jsonBody(setupapi.BeginRequest{Email: "mallory@example.com", Code: s.u.code, Purpose: "setup"})
		}, status: 403, code: "email_mismatch", message: "another email address (4 attempts left)", attempts: 4},
		{name: "bad code costs nothing", path: "/setup/v1/begin", body: func(s *state) string {
			return jsonBody(setupapi.BeginRequest{Email: s.u.email, Code: wrongCode(s.u.code), Purpose: "setup"})
		}, status: 403, code: "invalid_code", message: "unknown code"},
		{name: "bad code on complete", path: "/setup/v1/complete", body: func(s *state) string {
			b := s.se.bundle(s.u.id)
			s.u.code = wrongCode(s.u.code)
			return completeBody(s.u, "setup", b)
		}, status: 403, code: "invalid_code"},
		{name: "exhausted code", prepare: func(s *state) {
			for range db.SetupCodeAttempts {
				s.se.post(s.se.base, "/setup/v1/begin", jsonBody(setupapi.BeginRequest{Email: "mallory@example.com", Code: s.u.code, Purpose: "setup"}))
			}
		}, path: "/setup/v1/complete", body: func(s *state) string { return completeBody(s.u, "setup", s.se.bundle(s.u.id)) },
			status: 403, code: "code_exhausted", message: "too many wrong emails", attempts: -1},
		{name: "expired code", prepare: func(s *state) { s.se.now = s.se.now.Add(db.SetupCodeTTL + time.Minute) },
			path: "/setup/v1/complete", body: func(s *state) string { return completeBody(s.u, "setup", s.se.bundle(s.u.id)) },
			status: 410, code: "code_expired", message: "expired"},
		{name: "used code", prepare: func(s *state) {
			if r := s.se.post(s.se.base, "/setup/v1/complete", completeBody(s.u, "setup", s.se.bundle(s.u.id))); r.status != 200 {
				s.se.t.Fatalf("first complete: %d %s", r.status, r.raw)
			}
		}, path: "/setup/v1/complete", body: func(s *state) string { return completeBody(s.u, "setup", s.se.bundle(s.u.id)) },
			status: 410, code: "code_used", message: "already used", keys: 1},
		{name: "voided by a newer code", prepare: func(s *state) {
			if _, _, err := s.se.db.IssueSetupCode(context.Background(), s.u.id, db.PurposeSetup, "admin:test"); err != nil {
				s.se.t.Fatal(err)
			}
		}, path: "/setup/v1/begin", body: func(s *state) string { return beginBody(s.u, "setup") },
			status: 403, code: "invalid_code", message: "unknown code"},
		{name: "deactivated user", prepare: func(s *state) {
			s.se.do("PATCH", "/Users/"+s.u.id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`)
		}, path: "/setup/v1/complete", body: func(s *state) string { return completeBody(s.u, "setup", s.se.bundle(s.u.id)) },
			status: 403, code: "user_deactivated", message: "deactivated"},
		{name: "deleted user", prepare: func(s *state) { s.se.do("DELETE", "/Users/"+s.u.id, "") },
			path: "/setup/v1/begin", body: func(s *state) string { return beginBody(s.u, "setup") },
			status: 403, code: "invalid_code", attempts: -2},
		{name: "recovery code used for setup", purpose: db.PurposeRecover,
			path: "/setup/v1/begin", body: func(s *state) string { return beginBody(s.u, "setup") },
			status: 409, code: "wrong_purpose", message: "recovery code", keys: 1},
		{name: "setup code used for recovery",
			path: "/setup/v1/begin", body: func(s *state) string { return beginBody(s.u, "recover") },
			status: 409, code: "wrong_purpose", message: "setup code"},
		{name: "malformed public key", path: "/setup/v1/complete", body: func(s *state) string {
			b := s.se.bundle(s.u.id)
			b.PublicKey = b.PublicKey[:31]
			return completeBody(s.u, "setup", b)
		}, status: 400, code: "invalid_bundle", message: "malformed"},
		{name: "low-order public key", path: "/setup/v1/complete", body: func(s *state) string {
			b := s.se.bundle(s.u.id)
			b.PublicKey = make([]byte, 32)
			return completeBody(s.u, "setup", b)
		}, status: 400, code: "invalid_bundle"},
		{name: "blobs swapped", path: "/setup/v1/complete", body: func(s *state) string {
			b := s.se.bundle(s.u.id)
			b.Passphrase, b.Recovery = b.Recovery, b.Passphrase
			return completeBody(s.u, "setup", b)
		}, status: 400, code: "invalid_bundle"},
		{name: "truncated ciphertext", path: "/setup/v1/complete", body: func(s *state) string {
			b := s.se.bundle(s.u.id)
			b.Recovery.Ciphertext = b.Recovery.Ciphertext[:10]
			return completeBody(s.u, "setup", b)
		}, status: 400, code: "invalid_bundle"},
		{name: "no bundle at all", path: "/setup/v1/complete", body: func(s *state) string {
			return completeBody(s.u, "setup", keys.Bundle{})
		}, status: 400, code: "invalid_bundle"},
		{name: "argon2id below the minimum", prepare: func(s *state) { s.se.api.minKDF = MinKDF() },
			path: "/setup/v1/complete", body: func(s *state) string { return completeBody(s.u, "setup", s.se.bundle(s.u.id)) },
			status: 400, code: "weak_kdf", message: "below the minimum"},
		{name: "argon2id memory just below the minimum", prepare: func(s *state) { s.se.api.minKDF = MinKDF() },
			path: "/setup/v1/complete", body: func(s *state) string {
				// OWASP's minimum is 2 passes over 19 MiB: 1 KiB less is refused.
				b, _, err := keys.NewBundle(s.u.id, []byte(testPassphrase), keys.Params{Time: 2, MemoryKiB: 19*1024 - 1, Threads: 1})
				if err != nil {
					t.Fatal(err)
				}
				return completeBody(s.u, "setup", b)
			},
			status: 400, code: "weak_kdf", message: "below the minimum"},
		{name: "bundle for another user id", path: "/setup/v1/complete", body: func(s *state) string {
			b := s.se.bundle("someone-else")
			return jsonBody(setupapi.CompleteRequest{Email: s.u.email, Code: s.u.code, Purpose: "setup", UserID: "someone-else", Bundle: b})
		}, status: 400, code: "user_mismatch"},
		{name: "recovery with another public key", purpose: db.PurposeRecover, path: "/setup/v1/complete", body: func(s *state) string {
			return completeBody(s.u, "recover", s.se.bundle(s.u.id))
		}, status: 400, code: "key_mismatch", keys: 1},
		{name: "body too large", path: "/setup/v1/complete", body: func(s *state) string {
			return `{"email":"` + strings.Repeat("a", setupMaxBody) + `"}`
		}, status: 413, code: "too_large", noAudit: true},
		{name: "GET", method: http.MethodGet, path: "/setup/v1/begin", body: func(*state) string { return "" },
			status: 405, code: "method_not_allowed", noAudit: true},
		{name: "unknown endpoint", path: "/setup/v1/finish", body: func(s *state) string { return beginBody(s.u, "setup") },
			status: 404, code: "not_found", noAudit: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			se := newSetupEnv(t)
			purpose := tc.purpose
			if purpose == "" {
				purpose = db.PurposeSetup
			}
			s := &state{se: se, u: se.provision("alice", purpose)}
			if tc.prepare != nil {
				tc.prepare(s)
			}
			before := len(se.events(setupKind(db.PurposeSetup))) + len(se.events(setupKind(db.PurposeRecover)))
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := se.send(se.base, method, tc.path, tc.body(s))
			if r.status != tc.status || r.body.Error != tc.code || !strings.Contains(r.body.Message, tc.message) {
				t.Fatalf("got %d %s\nwant %d %s with %q", r.status, r.raw, tc.status, tc.code, tc.message)
			}
			if got := se.keyCount(); got != tc.keys {
				t.Errorf("%d keys stored, want %d", got, tc.keys)
			}
			ctx := context.Background()
			code, err := se.db.SetupCodeOf(ctx, s.u.id)
			switch {
			case tc.attempts == -2: // the user is gone, and the code with it
				if !errors.Is(err, db.ErrNotFound) {
					t.Errorf("code of a deleted user: %+v, %v", code, err)
				}
			case err != nil:
				t.Fatal(err)
			case tc.attempts == -1:
				if code.AttemptsLeft != 0 {
					t.Errorf("attempts left %d, want 0", code.AttemptsLeft)
				}
			default:
				want := tc.attempts
				if want == 0 {
					want = db.SetupCodeAttempts
				}
				if code.AttemptsLeft != want {
					t.Errorf("attempts left %d, want %d", code.AttemptsLeft, want)
				}
				if tc.code != "code_used" && !code.Used.IsZero() {
					t.Error("a refusal spent the code")
				}
			}
			after := se.events(setupKind(db.PurposeSetup))
			after = append(after, se.events(setupKind(db.PurposeRecover))...)
			switch {
			case tc.noAudit && len(after) != before:
				t.Errorf("malformed request audited: %+v", after)
			case !tc.noAudit && len(after) != before+1:
				t.Errorf("%d events, want one more than %d: %+v", len(after), before, after)
			case !tc.noAudit:
				e := after[0] // newest first
				if !e.Failed() || e.Status != tc.status || !strings.HasPrefix(e.Summary, "refused: ") {
					t.Errorf("audit event %+v", e)
				}
				if strings.Contains(e.Summary+e.Subject, s.u.code) {
					t.Error("the code is in the audit log")
				}
			}
		})
	}
}

func TestSetupCodeNotLoggedAsEmail(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		se := newSetupEnvOn(t, engine)
		u := se.provision("alice", db.PurposeSetup)
		// The user pasted the code into both fields, or a well-formed code of no one.
		r := se.post(se.base, "/setup/v1/begin", jsonBody(setupapi.BeginRequest{Email: u.code, Code: u.code, Purpose: "setup"}))
		if r.status != 403 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		other := otherCode(t, u.code)
		if r := se.post(se.base, "/setup/v1/begin", jsonBody(setupapi.BeginRequest{Email: other, Code: other, Purpose: "setup"})); r.status != 403 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		canon, _ := db.NormalizeSetupCode(u.code)
		evs := se.events("user.key_setup")
		if len(evs) != 2 {
			t.Fatalf("events %+v", evs)
		}
		for _, e := range evs {
			if strings.Contains(e.Subject+e.Summary, u.code) || strings.Contains(e.Subject+e.Summary, canon) || strings.Contains(e.Subject+e.Summary, other) {
				t.Fatalf("code in the audit log: %+v", e)
			}
		}
	})
}

// TestSetupRateLimit goes through the real route, with the real limit.
func TestSetupRateLimit(t *testing.T) {
	e := newEnv(t)
	base := strings.TrimSuffix(e.url, "/scim/v2")
	se := &setupEnv{testEnv: e}
	unknown := otherCode(t, "")
	var last setupReply
	for i := range setupBurst + 1 {
		last = se.post(base, "/setup/v1/begin", `{"email":"x@example.com","code":"`+unknown+`","purpose":"setup"}`)
		if i < setupBurst && last.status != 403 {
			t.Fatalf("request %d: %d %s", i, last.status, last.raw)
		}
	}
	if last.status != 429 || last.body.Error != "rate_limited" || last.body.RetryAfter < 1 || last.header.Get("Retry-After") == "" {
		t.Fatalf("after the burst: %d %v %s", last.status, last.header, last.raw)
	}
	c, _ := setupapi.NewClient(base, "")
	_, err := c.Begin(context.Background(), "x@example.com", unknown, "setup")
	var se2 *setupapi.Error
	if !errors.As(err, &se2) || !strings.Contains(err.Error(), "wait") {
		t.Fatalf("client error: %v", err)
	}
	// A sign-in shares the budget, before its token is even looked at; asking for the
	// config does not, so a client over its limit still learns how to sign in.
	if r := se.post(base, "/setup/v1/signin", `{"idToken":"a.b.c","purpose":"setup"}`); r.status != 429 {
		t.Errorf("sign-in over the limit: %d %s", r.status, r.raw)
	}
	if cfg, err := c.Config(context.Background()); err != nil || cfg.SignIn != nil {
		t.Errorf("config over the limit: %+v, %v", cfg, err)
	}
}

func TestRateLimiter(t *testing.T) {
	l := newRateLimiter(10, time.Minute, 5)
	now := time.Unix(1000, 0)
	for i := range 5 {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait <= 0 || wait > 6*time.Second {
		t.Fatalf("6th: %v, %v", ok, wait)
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Fatal("another address shares the bucket")
	}
	if ok, _ := l.allow("a", now.Add(6*time.Second)); !ok {
		t.Fatal("no token after 6 s")
	}
	for i := range maxBuckets + 10 {
		l.allow(fmt.Sprint("flood", i), now.Add(time.Hour))
	}
	if len(l.buckets) > maxBuckets {
		t.Fatalf("%d buckets", len(l.buckets))
	}
}

// TestSetupClientMessages checks the words a user reads for every refusal, through the
// real client.
func TestSetupClientMessages(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		ctx := context.Background()
		se := newSetupEnvOn(t, engine)
		c, err := setupapi.NewClient(se.base, "")
		if err != nil {
			t.Fatal(err)
		}
		msg := func(email, code, purpose string) string {
			t.Helper()
			_, err := c.Begin(ctx, email, code, purpose)
			if err == nil {
				t.Fatalf("begin %s %s: no error", email, purpose)
			}
			return err.Error()
		}
		want := func(got string, fragments ...string) {
			t.Helper()
			for _, f := range fragments {
				if !strings.Contains(got, f) {
					t.Errorf("message %q lacks %q", got, f)
				}
			}
		}
		u := se.provision("alice", db.PurposeSetup)
		wrong := otherCode(t, u.code)
		// A wrong code reads the same with any email, and tells of no user.
		want(msg(u.email, wrong, "setup"), "unknown code: check it, or ask your admin for a new one")
		if a, b := msg(u.email, wrong, "setup"), msg("nobody@example.com", wrong, "setup"); a != b {
			t.Errorf("a wrong code reads %q with a user's email, %q without", a, b)
		}
		want(msg(u.email, typoOf(u.code), "setup"), "typo", "letter by letter")
		want(msg(u.email, "123", "setup"), "not a code", db.SetupCodeExample)
		want(msg(u.email, "ABCDE-12345", "setup"), "not a code")
		want(msg("nobody@example.com", u.code, "setup"), "issued for another email", "4 attempts left")
		want(msg(u.email, u.code, "recover"), "this is a setup code", "scimdesk setup")
		se.now = se.now.Add(db.SetupCodeTTL + time.Second)
		want(msg(u.email, u.code, "setup"), "code expired: ask your admin for a new one")
		se.now = time.Now()
		for range 3 {
			msg("nobody@example.com", u.code, "setup")
		}
		want(msg("nobody@example.com", u.code, "setup"), "too many wrong attempts", "ask your admin for a new one")
		want(msg(u.email, u.code, "setup"), "too many wrong attempts")

		v := se.provision("victor", db.PurposeSetup)
		b := se.bundle(v.id)
		if _, err := c.Complete(ctx, setupapi.CompleteRequest{Email: v.email, Code: v.code, Purpose: "setup", UserID: v.id, Bundle: b}); err != nil {
			t.Fatal(err)
		}
		want(msg(v.email, v.code, "setup"), "code already used: ask your admin for a new one")
		_, v.code, _ = se.db.IssueSetupCode(ctx, v.id, db.PurposeRecover, "admin:test")
		want(msg(v.email, v.code, "setup"), "this is a recovery code", "scimdesk recover")

		w := se.provision("wendy", db.PurposeSetup)
		se.do("PATCH", "/Users/"+w.id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`)
		want(msg(w.email, w.code, "setup"), "your account is deactivated: ask your admin")
	})
}

// otherCode is a well-formed code (its check symbols right) that is not code.
func otherCode(t *testing.T, code string) string {
	t.Helper()
	canon, _ := db.NormalizeSetupCode(code)
	buf := make([]byte, db.SetupCodeLen)
	for {
		rand.Read(buf)
		for i, b := range buf {
			buf[i] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[b&31]
		}
		if c, err := db.NormalizeSetupCode(string(buf)); err == nil && c != canon {
			return db.FormatSetupCode(c)
		}
	}
}

// typoOf is code with one symbol changed so that its check symbols no longer match.
func typoOf(code string) string {
	canon, _ := db.NormalizeSetupCode(code)
	for _, r := range "0123456789ABCDEFGHJKMNPQRSTVWXYZ" {
		typo := string(r) + canon[1:]
		if _, err := db.NormalizeSetupCode(typo); errors.Is(err, db.ErrCodeTypo) {
			return db.FormatSetupCode(typo)
		}
	}
	panic("no typo of " + code + " is caught")
}
