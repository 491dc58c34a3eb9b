package db

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scimdesk/internal/testpg"
)

// everyKind fills d with at least one row of every table a copy carries: users (pending,
// ready with a key, deactivated), a group with members, tokens (live, revoked, rotated),
// an outstanding setup code, a used sign-in token, an invitation, settings and events.
// It returns the secret of the live token and the outstanding code, which must still
// work on a copy.
func everyKind(t *testing.T, d *DB) (secret, code string) {
	t.Helper()
	ctx := context.Background()
	alice := addUser(t, d, "u-alice", "alice@example.com", "alice@example.com", true)
	bob := addUser(t, d, "u-bob", "bob@example.com", "bob@example.com", true)
	giveKey(t, d, bob)
	addUser(t, d, "u-gone", "gone@example.com", "gone@example.com", false)
	err := d.Write(ctx, func(tx *Tx) error {
		g := Group{ID: "g-eng", DisplayName: "Engineering", Doc: []byte(`{"displayName":"Engineering"}`)}
		if err := tx.InsertGroup(ctx, &g); err != nil {
			return err
		}
		return tx.AddMembers(ctx, g.Seq, []string{alice.ID, bob.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetSCIMEnabled(ctx, true, "cli:test"); err != nil {
		t.Fatal(err)
	}
	tok, secret, err := d.CreateToken(ctx, "okta", time.Hour, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := d.CreateToken(ctx, "old", 0, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RevokeToken(ctx, old.ID, "cli:test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.RotateToken(ctx, tok.ID, time.Minute, "cli:test"); err != nil {
		t.Fatal(err)
	}
	// The rotated token's secret stays valid through the overlap; keep a fresh one too.
	_, secret, err = d.CreateToken(ctx, "entra", 0, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	if _, code, err = d.IssueSetupCode(ctx, alice.ID, PurposeSetup, "cli:test"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetOIDCConfig(ctx, OIDCConfig{Issuer: "https://idp.example.com", ClientID: "scimdesk"}, "cli:test"); err != nil {
		t.Fatal(err)
	}
	carol := addUser(t, d, "u-carol", "carol@example.com", "carol@example.com", true)
	s := SignIn{TokenHash: IDTokenHash("tok-carol"), TokenExpires: time.Now().Add(time.Hour), Login: carol.Email,
		Purpose: PurposeSetup, Event: Event{Kind: "user.signin", Addr: "127.0.0.1"}}
	if _, _, _, err := d.GrantSignIn(ctx, s); err != nil {
		t.Fatal(err)
	}
	addUser(t, d, "u-dave", "dave@example.com", "dave@example.com", true)
	if queued, err := d.InviteUser(ctx, "u-dave", "cli:test"); err != nil || !queued {
		t.Fatalf("invite: %v %v", queued, err)
	}
	return secret, code
}

// TestCopyStoreRoundTrip moves a SQLite database with every kind of row to PostgreSQL and
// back: every row arrives (counts and checksum), the copy works as the original did (a
// token authenticates, an outstanding setup code redeems, new users get new seqs), and a
// target that holds data is refused.
func TestCopyStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openTestDB(t)
	secret, code := everyKind(t, src)
	srcSum, err := src.Checksum(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range srcSum.Rows {
		if n == 0 {
			t.Fatalf("the source has no row of %s: the round trip would not test it", name)
		}
	}

	pg, err := Open(ctx, testpg.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	rep, err := CopyStore(ctx, src, pg, true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checksum != srcSum.Checksum {
		t.Fatalf("copy checksum %s, source %s", rep.Checksum, srcSum.Checksum)
	}
	got, err := pg.Checksum(ctx)
	if err != nil || got.Checksum != srcSum.Checksum {
		t.Fatalf("PostgreSQL sums to %v (%v), the source %s", got.Checksum, err, srcSum.Checksum)
	}
	for name, n := range srcSum.Rows {
		if got.Rows[name] != n {
			t.Errorf("%s: %d rows on PostgreSQL, %d on SQLite", name, got.Rows[name], n)
		}
	}

	// The copy serves as the original did.
	if a, err := pg.Authenticate(ctx, secret, time.Now()); err != nil || !a.Found || a.Revoked || !a.SCIMEnabled {
		t.Errorf("the token on the copy: %+v, %v", a, err)
	}
	if u, err := pg.CheckSetupCode(ctx, "alice@example.com", code, PurposeSetup, time.Now()); err != nil || u.ID != "u-alice" {
		t.Errorf("the outstanding code on the copy: %+v, %v", u, err)
	}
	erin := addUser(t, pg, "u-erin", "erin@example.com", "", true)
	if erin.Seq <= 5 {
		t.Errorf("a user created on the copy got seq %d, taken by a copied user", erin.Seq)
	}
	g, err := pg.GroupByID(ctx, "g-eng")
	if err != nil || g.DisplayName != "Engineering" {
		t.Errorf("group on the copy: %+v, %v", g, err)
	}
	if m, err := pg.MembersOfGroups(ctx, []int64{g.Seq}); err != nil || len(m[g.Seq]) != 2 {
		t.Errorf("members on the copy: %v, %v", m[g.Seq], err)
	}

	// A target with data is refused, whichever table holds it.
	if _, err := CopyStore(ctx, src, pg, true); !errors.Is(err, ErrTargetNotEmpty) {
		t.Errorf("copy into a database with data: %v, want ErrTargetNotEmpty", err)
	}

	// And back to a new SQLite file: the same rows (with Erin).
	back := openTestDB(t)
	rep2, err := CopyStore(ctx, pg, back, true)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Rows["users"] != srcSum.Rows["users"]+1 {
		t.Errorf("users back on SQLite: %d, want %d", rep2.Rows["users"], srcSum.Rows["users"]+1)
	}
	if u, err := back.CheckSetupCode(ctx, "alice@example.com", code, PurposeSetup, time.Now()); err != nil || u.ID != "u-alice" {
		t.Errorf("the outstanding code back on SQLite: %+v, %v", u, err)
	}
}

// TestBackupOfPostgresIsASQLiteFile: `scimdesk backup` of a PostgreSQL database writes a
// SQLite file that Verify accepts, holding every row, without the setup codes' key.
func TestBackupOfPostgresIsASQLiteFile(t *testing.T) {
	ctx := context.Background()
	pg, err := Open(ctx, testpg.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	everyKind(t, pg)
	want, err := pg.Checksum(ctx)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "pg-backup.db")
	info, err := pg.Backup(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	if info.Users != want.Rows["users"] || info.Groups != want.Rows["groups"] || info.Tokens != want.Rows["scim_tokens"] {
		t.Errorf("backup info %+v, database rows %v", info, want.Rows)
	}
	if _, err := Verify(ctx, to); err != nil {
		t.Fatalf("verify the backup: %v", err)
	}
	for _, side := range []string{CodeKeySuffix, "-admin", servingLockSuffix, authGenSuffix, "-wal", "-shm"} {
		if _, err := os.Stat(to + side); err == nil {
			t.Errorf("the backup left %s beside it", filepath.Base(to+side))
		}
	}
	fi, err := os.Stat(to)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", fi, err)
	}
	b, err := Open(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := b.Checksum(ctx)
	if err != nil || got.Checksum != want.Checksum {
		t.Errorf("the backup sums to %v (%v), the database to %s", got.Checksum, err, want.Checksum)
	}
}

// TestPostgresSchemaOfAnotherApplicationIsRefused: a database whose schema holds another
// application's tables is not turned into scimdesk's, and nothing is created in it.
func TestPostgresSchemaOfAnotherApplicationIsRefused(t *testing.T) {
	ctx := context.Background()
	dsn := testpg.DSN(t)
	other, err := openPostgres(dsn, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`CREATE TABLE payroll (employee TEXT)`); err != nil {
		t.Fatal(err)
	}
	d, err := Open(ctx, dsn)
	if err == nil {
		d.Close()
		t.Fatal("opened a database holding another application's table")
	}
	if !errors.Is(err, ErrNotDatabase) || !strings.Contains(err.Error(), "payroll") {
		t.Errorf("error %v, want ErrNotDatabase naming payroll", err)
	}
	var n int
	other.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'migrations'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d tables in the schema after the refusal, want only payroll", n)
	}
}
