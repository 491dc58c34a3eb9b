package db

import (
	"context"
	"errors"
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
	for in, want := range map[string]string{
		"ABCDE-12345":     "ABCDE12345",
		" abcde 12345\n":  "ABCDE12345",
		"oiLzz–zzzzz":     "011ZZZZZZZ", // en dash from a chat app, O/I/L read as digits
		"ABCDE-1234":      "",
		"ABCDE-123456":    "",
		"ABCDU-12345":     "", // U is not in Crockford's alphabet
		"ÄBCDE-12345":     "",
		"":                "",
		"ABCDE\x0012345":  "",
		"ABCDE-12345-XYZ": "",
	} {
		got, err := NormalizeSetupCode(in)
		if want == "" {
			if !errors.Is(err, ErrCodeFormat) {
				t.Errorf("NormalizeSetupCode(%q) = %q, %v; want ErrCodeFormat", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NormalizeSetupCode(%q) = %q, %v; want %q", in, got, err, want)
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
}

func TestIssueSetupCode(t *testing.T) {
	ctx := context.Background()
	d := openTestDB(t)
	alice := addUser(t, d, "u-alice", "alice@example.com", "alice@example.com", true)
	gone := addUser(t, d, "u-gone", "gone@example.com", "gone@example.com", false)
	ready := addUser(t, d, "u-ready", "ready@example.com", "ready@example.com", true)
	giveKey(t, d, ready)

	c, code, err := d.IssueSetupCode(ctx, alice.ID, PurposeSetup, "admin:test")
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 11 || code[5] != '-' || c.AttemptsLeft != SetupCodeAttempts || c.Expires.Sub(c.Created) != SetupCodeTTL || c.UserName != alice.UserName {
		t.Fatalf("issued %q %+v", code, c)
	}
	stored, err := d.SetupCodeOf(ctx, alice.ID)
	if err != nil || stored.Purpose != PurposeSetup || !stored.Usable(time.Now()) {
		t.Fatalf("SetupCodeOf = %+v, %v", stored, err)
	}

	// Only the hash is stored, and the audit line names the user, not the code.
	var raw []byte
	if err := d.r.QueryRow(`SELECT code_hash FROM setup_codes`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	canon, _ := NormalizeSetupCode(code)
	if string(raw) != string(HashSecret(canon)) {
		t.Fatal("stored hash is not HashSecret(code)")
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
	codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, alice.Email, code, PurposeSetup, now); return err }(), ErrCodeWrong)
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
}

func TestRedeemSetupCode(t *testing.T) {
	ctx := context.Background()
	d := openTestDB(t)
	alice := addUser(t, d, "u-alice", "Alice", "Alice@Example.com", true)
	_, code, err := d.IssueSetupCode(ctx, alice.ID, PurposeSetup, "admin:test")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	wrong := "ZZZZZ-ZZZZZ"
	if code == wrong {
		wrong = "YYYYY-YYYYY"
	}

	// Unknown email and no code: the same refusal, with nothing to count.
	ce := codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "bob@example.com", code, PurposeSetup, now); return err }(), ErrCodeWrong)
	if ce.AttemptsLeft != -1 || ce.Error() != "wrong email or code" {
		t.Errorf("unknown email: %+v", ce)
	}
	codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "", code, PurposeSetup, now); return err }(), ErrCodeWrong)
	// A malformed code costs nothing.
	codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, alice.Email, "123", PurposeSetup, now); return err }(), ErrCodeFormat)

	// A wrong code costs an attempt, committed although the check fails.
	ce = codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, alice.Email, wrong, PurposeSetup, now); return err }(), ErrCodeWrong)
	if ce.AttemptsLeft != 4 || ce.UserName != "Alice" || !strings.Contains(ce.Error(), "4 attempts left") {
		t.Errorf("wrong code: %+v %q", ce, ce.Error())
	}
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
}

func TestSetupCodeExhaustedAndDeactivated(t *testing.T) {
	ctx := context.Background()
	d := openTestDB(t)
	bob := addUser(t, d, "u-bob", "bob", "bob@example.com", true)
	_, code, err := d.IssueSetupCode(ctx, bob.ID, PurposeSetup, "admin:test")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	wrong := "00000-00000"
	for i := SetupCodeAttempts - 1; i > 0; i-- {
		ce := codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "bob@example.com", wrong, PurposeSetup, now); return err }(), ErrCodeWrong)
		if ce.AttemptsLeft != i {
			t.Fatalf("attempts left %d, want %d", ce.AttemptsLeft, i)
		}
	}
	codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "bob@example.com", wrong, PurposeSetup, now); return err }(), ErrCodeExhausted)
	// Even the right code is refused now: the code is dead.
	codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "bob@example.com", code, PurposeSetup, now); return err }(), ErrCodeExhausted)

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
	codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, "bob@example.com", code, PurposeSetup, now); return err }(), ErrCodeWrong)
	var n int
	if err := d.r.QueryRow(`SELECT count(*) FROM setup_codes`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d codes left after delete (%v)", n, err)
	}
}

func TestSetupCodeSharedEmail(t *testing.T) {
	// Two accounts with one mailbox: the email means the one holding a code.
	ctx := context.Background()
	d := openTestDB(t)
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
}
