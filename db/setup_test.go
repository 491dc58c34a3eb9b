package db

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTestDB(t *testing.T) *DB {
	t.Helper()
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "setup.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func addUser(t *testing.T, d *DB, id, userName, email string, active bool) User {
	t.Helper()
	u := User{ID: id, UserName: userName, Email: email, Active: active, Doc: []byte(`{}`)}
	if err := d.Write(context.Background(), func(tx *Tx) error { return tx.InsertUser(context.Background(), &u) }); err != nil {
		t.Fatal(err)
	}
	return u
}

func giveKey(t *testing.T, d *DB, u User) {
	t.Helper()
	err := d.Write(context.Background(), func(tx *Tx) error {
		return tx.InsertUserKey(context.Background(), u.Seq, UserKey{Alg: "x25519", PublicKey: []byte("pub"), Passphrase: `{"p":1}`, Recovery: `{"r":1}`})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func codeErr(t *testing.T, err error, want error) *CodeError {
	t.Helper()
	var ce *CodeError
	if !errors.As(err, &ce) || !errors.Is(err, want) {
		t.Fatalf("error = %v, want a *CodeError wrapping %v", err, want)
	}
	return ce
}

func TestSetupCodeFormat(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		code, err := newSetupCode()
		if err != nil {
			t.Fatal(err)
		}
		shown := FormatSetupCode(code)
		if len(code) != 20 || len(shown) != 23 || shown[5] != '-' || shown[11] != '-' || shown[17] != '-' {
			t.Fatalf("code %q shown as %q", code, shown)
		}
		// O, I and L read as 0, 1 and 1: write a code that holds 0 and 1 with the letters.
		body := "0101" + code[4:codeRandomLen]
		withDigits := body + codeCheck(body)
		withLetters := "oIoL" + strings.ToLower(withDigits[4:])
		// A typo: one symbol of the random part changed, the check symbols kept.
		// (The next symbol of the alphabet: flipping a bit could give a character outside it,
		// '@' from 'A' or 'U' from 'T', which is a format error, not a typo.)
		next := codeAlphabet[(strings.IndexByte(codeAlphabet, code[0])+1)%len(codeAlphabet)]
		typo := string(next) + code[1:]
		if codeCheck(typo[:codeRandomLen]) == typo[codeRandomLen:] {
			typo = code[:codeRandomLen-1] + "Z" + code[codeRandomLen:] // 1 in 1024: pick another typo
		}
		for in, want := range map[string]error{
			shown:                               nil,
			" " + strings.ToLower(shown) + "\n": nil,
			strings.ReplaceAll(shown, "-", "–"): nil, // en dashes from a chat app
			strings.ReplaceAll(shown, "-", " "): nil,
			withLetters:                         nil,
			typo:                                ErrCodeTypo,
			shown[:22]:                          ErrCodeFormat,
			shown + "A":                         ErrCodeFormat,
			"U" + code[1:]:                      ErrCodeFormat, // U is not in Crockford's alphabet
			"Ä" + code[1:]:                      ErrCodeFormat,
			"":                                  ErrCodeFormat,
			code[:10] + "\x00" + code[10:]:      ErrCodeFormat,
			"ABCDE-12345":                       ErrCodeFormat, // a code of the old format
		} {
			got, err := NormalizeSetupCode(in)
			if !errors.Is(err, want) || (want == nil && got != code && in != withLetters) || (in == withLetters && got != withDigits) {
				t.Errorf("NormalizeSetupCode(%q) = %q, %v; want %v", in, got, err, want)
			}
		}
		for range 50 {
			c, err := newSetupCode()
			if err != nil {
				t.Fatal(err)
			}
			if n, err := NormalizeSetupCode(FormatSetupCode(c)); err != nil || n != c {
				t.Fatalf("code %q does not survive formatting: %q, %v", c, n, err)
			}
		}
	})
}

func TestIssueSetupCode(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		alice := addUser(t, d, "u-alice", "alice@example.com", "alice@example.com", true)
		gone := addUser(t, d, "u-gone", "gone@example.com", "gone@example.com", false)
		ready := addUser(t, d, "u-ready", "ready@example.com", "ready@example.com", true)
		giveKey(t, d, ready)

		c, code, err := d.IssueSetupCode(ctx, alice.ID, PurposeSetup, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		if len(code) != 23 || code[5] != '-' || c.AttemptsLeft != SetupCodeAttempts || c.Expires.Sub(c.Created) != SetupCodeTTL || c.UserName != alice.UserName {
			t.Fatalf("issued %q %+v", code, c)
		}
		stored, err := d.SetupCodeOf(ctx, alice.ID)
		if err != nil || stored.Purpose != PurposeSetup || !stored.Usable(time.Now()) {
			t.Fatalf("SetupCodeOf = %+v, %v", stored, err)
		}

		// Only the keyed hash is stored (codekey_test.go checks the key), and the audit line
		// names the user, not the code.
		var raw []byte
		if err := d.r.QueryRow(`SELECT code_hash FROM setup_codes`).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		canon, _ := NormalizeSetupCode(code)
		if !hmac.Equal(raw, codeHMAC(t, d, canon)) {
			t.Fatal("stored hash is not HMAC-SHA256 of the code under the key file")
		}
		evs, _ := d.EventsBefore(ctx, 0, 10)
		if len(evs) != 1 || evs[0].Kind != "user.setup_code" || evs[0].Subject != alice.UserName || evs[0].Agent != "admin:test" ||
			strings.Contains(evs[0].Summary, code) || strings.Contains(evs[0].Summary, canon) {
			t.Fatalf("events = %+v", evs)
		}

		// A new code voids the old one.
		_, code2, err := d.IssueSetupCode(ctx, alice.ID, PurposeSetup, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, alice.Email, code, PurposeSetup, now); return err }(), ErrCodeUnknown)
		if _, err := d.CheckSetupCode(ctx, alice.Email, code2, PurposeSetup, now); err != nil {
			t.Fatalf("new code refused: %v", err)
		}

		// Refused by state, with words the admin can act on.
		for _, tc := range []struct {
			user    User
			purpose string
			want    error
		}{
			{gone, PurposeSetup, ErrUserDeactivated},
			{gone, PurposeRecover, ErrUserDeactivated},
			{ready, PurposeSetup, ErrUserReady},
			{alice, PurposeRecover, ErrUserNoKey},
		} {
			if _, code, err := d.IssueSetupCode(ctx, tc.user.ID, tc.purpose, "admin:test"); !errors.Is(err, tc.want) || code != "" {
				t.Errorf("%s %s: %q, %v; want %v", tc.user.UserName, tc.purpose, code, err, tc.want)
			}
		}
		if _, _, err := d.IssueSetupCode(ctx, "nobody", PurposeSetup, "admin:test"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		if _, _, err := d.IssueSetupCode(ctx, ready.ID, PurposeRecover, "admin:test"); err != nil {
			t.Errorf("recovery code for a ready user: %v", err)
		}
	})
}

func TestRedeemSetupCode(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		alice := addUser(t, d, "u-alice", "Alice", "Alice@Example.com", true)
		_, code, err := d.IssueSetupCode(ctx, alice.ID, PurposeSetup, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		wrong := otherCode(t, code)

		// A wrong code is the same refusal whatever the email, tells no user and costs nothing.
		for _, email := range []string{alice.Email, "bob@example.com", ""} {
			ce := codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, email, wrong, PurposeSetup, now); return err }(), ErrCodeUnknown)
			if ce.AttemptsLeft != -1 || ce.UserName != "" || ce.Error() != ErrCodeUnknown.Error() {
				t.Errorf("wrong code with %q: %+v", email, ce)
			}
		}
		if c, _ := d.SetupCodeOf(ctx, alice.ID); c.AttemptsLeft != SetupCodeAttempts {
			t.Fatalf("wrong codes cost the real code attempts: %d left", c.AttemptsLeft)
		}
		// A malformed code, or one with a typo, costs nothing either.
		codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, alice.Email, "123", PurposeSetup, now); return err }(), ErrCodeFormat)

		// The right code with another email costs the code an attempt, committed although the
		// check fails: only the holder of the code can spend these.
		ce := codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "bob@example.com", code, PurposeSetup, now); return err }(), ErrCodeEmail)
		if ce.AttemptsLeft != 4 || ce.UserName != "Alice" || !strings.Contains(ce.Error(), "4 attempts left") {
			t.Errorf("wrong email: %+v %q", ce, ce.Error())
		}
		codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "", code, PurposeSetup, now); return err }(), ErrCodeEmail)
		// The email is matched case-insensitively, by userName or email; the code however typed.
		u, err := d.CheckSetupCode(ctx, " alice ", strings.ToLower(code), PurposeSetup, now)
		if err != nil || u.ID != alice.ID {
			t.Fatalf("check by userName: %+v, %v", u, err)
		}
		// Right code, wrong purpose or too late: told only to the holder of the code.
		ce = codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, alice.Email, code, PurposeRecover, now); return err }(), ErrCodePurpose)
		if ce.Purpose != PurposeSetup {
			t.Errorf("purpose: %+v", ce)
		}
		codeErr(t, func() error {
			_, err := d.CheckSetupCode(ctx, alice.Email, code, PurposeSetup, now.Add(SetupCodeTTL+time.Second))
			return err
		}(), ErrCodeExpired)

		// fn failing writes nothing; the code stays usable.
		boom := errors.New("boom")
		if err := d.RedeemSetupCode(ctx, alice.Email, code, PurposeSetup, now, func(tx *Tx, u User) error {
			if err := tx.InsertUserKey(ctx, u.Seq, UserKey{Alg: "x25519", PublicKey: []byte("p"), Passphrase: "{}", Recovery: "{}"}); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("redeem: %v", err)
		}
		if _, err := d.UserKey(ctx, alice.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("key stored by a failed redeem: %v", err)
		}

		// Success stores the key and spends the code in one go.
		err = d.RedeemSetupCode(ctx, alice.Email, code, PurposeSetup, now, func(tx *Tx, u User) error {
			return tx.InsertUserKey(ctx, u.Seq, UserKey{Alg: "x25519", PublicKey: []byte("p"), Passphrase: `{"v":1}`, Recovery: `{"v":2}`})
		})
		if err != nil {
			t.Fatal(err)
		}
		k, err := d.UserKey(ctx, alice.ID)
		if err != nil || k.Passphrase != `{"v":1}` || k.Recovery != `{"v":2}` || string(k.PublicKey) != "p" {
			t.Fatalf("key = %+v, %v", k, err)
		}
		if u, _ := d.UserByID(ctx, alice.ID); u.Status() != StatusReady {
			t.Fatalf("status %s after setup", u.Status())
		}
		codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, alice.Email, code, PurposeSetup, now); return err }(), ErrCodeUsed)

		// Recovery: replace the passphrase blob only.
		_, rcode, err := d.IssueSetupCode(ctx, alice.ID, PurposeRecover, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, alice.Email, rcode, PurposeSetup, now); return err }(), ErrCodePurpose)
		err = d.RedeemSetupCode(ctx, alice.Email, rcode, PurposeRecover, now, func(tx *Tx, u User) error {
			return tx.SetPassphraseBlob(ctx, u.Seq, `{"v":3}`)
		})
		if err != nil {
			t.Fatal(err)
		}
		if k, _ := d.UserKey(ctx, alice.ID); k.Passphrase != `{"v":3}` || k.Recovery != `{"v":2}` {
			t.Fatalf("after recovery: %+v", k)
		}
	})
}

func TestSetupCodeExhaustedAndDeactivated(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		bob := addUser(t, d, "u-bob", "bob", "bob@example.com", true)
		_, code, err := d.IssueSetupCode(ctx, bob.ID, PurposeSetup, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for i := SetupCodeAttempts - 1; i > 0; i-- {
			ce := codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "rob@example.com", code, PurposeSetup, now); return err }(), ErrCodeEmail)
			if ce.AttemptsLeft != i {
				t.Fatalf("attempts left %d, want %d", ce.AttemptsLeft, i)
			}
		}
		codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "rob@example.com", code, PurposeSetup, now); return err }(), ErrCodeExhausted)
		// Even the right code is refused now: the code is dead, and the console says so.
		codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "bob@example.com", code, PurposeSetup, now); return err }(), ErrCodeExhausted)
		if c, err := d.SetupCodeOf(ctx, bob.ID); err != nil || c.AttemptsLeft != 0 || c.Usable(now) {
			t.Fatalf("an exhausted code: %+v, %v; want no attempts left and not usable", c, err)
		}

		// Deactivated after the code was issued: refused, but only to the code's holder.
		_, code, err = d.IssueSetupCode(ctx, bob.ID, PurposeSetup, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		err = d.Write(ctx, func(tx *Tx) error {
			u, err := tx.UserByID(ctx, bob.ID)
			if err != nil {
				return err
			}
			u.Active = false
			return tx.UpdateUser(ctx, &u)
		})
		if err != nil {
			t.Fatal(err)
		}
		codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "bob@example.com", code, PurposeSetup, now); return err }(), ErrUserDeactivated)

		// Deleting the user deletes the code with it.
		if err := d.Write(ctx, func(tx *Tx) error { return tx.DeleteUser(ctx, bob.ID) }); err != nil {
			t.Fatal(err)
		}
		codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "bob@example.com", code, PurposeSetup, now); return err }(), ErrCodeUnknown)
		var n int
		if err := d.r.QueryRow(`SELECT count(*) FROM setup_codes`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d codes left after delete (%v)", n, err)
		}
	})
}

func TestSetupCodeSharedEmail(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		// Two accounts with one mailbox: the code says which one is meant.
		ctx := context.Background()
		d := st.openDB(t)
		addUser(t, d, "u-1", "carol-admin", "carol@example.com", true)
		carol := addUser(t, d, "u-2", "carol", "carol@example.com", true)
		_, code, err := d.IssueSetupCode(ctx, carol.ID, PurposeSetup, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		u, err := d.CheckSetupCode(ctx, "CAROL@example.com", code, PurposeSetup, time.Now())
		if err != nil || u.ID != carol.ID {
			t.Fatalf("got %s, %v", u.ID, err)
		}
	})
}

// otherCode is a well-formed code (right check symbols) that is not code.
func otherCode(t *testing.T, code string) string {
	t.Helper()
	for {
		c, err := newSetupCode()
		if err != nil {
			t.Fatal(err)
		}
		if f := FormatSetupCode(c); f != code {
			return f
		}
	}
}

// codeHMAC is the stored form of a canonical code, computed here from the key file's
// bytes rather than through the package's own hash function, which a test comparing with
// it could never find wrong.
func codeHMAC(t *testing.T, d *DB, canon string) []byte {
	t.Helper()
	var key []byte
	if d.pg { // the key is a row of its own table there
		if err := d.r.QueryRow(`SELECT secret FROM code_key`).Scan(&key); err != nil {
			t.Fatal(err)
		}
		if len(key) != 32 {
			t.Fatalf("code key row holds %d bytes", len(key))
		}
	} else {
		raw, err := os.ReadFile(CodeKeyPath(d.path))
		if err != nil {
			t.Fatal(err)
		}
		if key, err = hex.DecodeString(strings.TrimSpace(string(raw))); err != nil || len(key) != 32 {
			t.Fatalf("key file holds %q", raw)
		}
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("scimdesk setup code v2\x00" + canon))
	return m.Sum(nil)
}
