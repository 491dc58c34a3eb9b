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
	"sync"
	"testing"
	"time"
)

// issueFor adds a pending user to d and issues them a setup code.
func issueFor(t *testing.T, d *DB, id string) (User, string) {
	t.Helper()
	u := addUser(t, d, id, id, id+"@example.com", true)
	_, code, err := d.IssueSetupCode(context.Background(), u.ID, PurposeSetup, "admin:test")
	if err != nil {
		t.Fatal(err)
	}
	return u, code
}

func TestCodeKeyFileKeysTheStoredHash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "k.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, code := issueFor(t, d, "alice")

	info, err := os.Stat(path + ".codekey")
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", info.Mode().Perm())
	}
	raw, _ := os.ReadFile(path + ".codekey")
	key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) != 32 {
		t.Fatalf("key file holds %q", raw)
	}

	var stored []byte
	if err := d.r.QueryRow(`SELECT code_hash FROM setup_codes`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	canon, _ := NormalizeSetupCode(code)
	if plain := sha256.Sum256([]byte(canon)); hmac.Equal(stored, plain[:]) {
		t.Fatal("the stored hash is the plain SHA-256 of the code")
	}
	// Computed here from the file's bytes, not through the package: the file is the key.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("scimdesk setup code v2\x00" + canon))
	if !hmac.Equal(stored, m.Sum(nil)) {
		t.Fatal("the stored hash is not HMAC-SHA256 under the key file")
	}
	if strings.Contains(string(raw), canon) {
		t.Fatal("the code is in the key file")
	}
}

func TestCodeKeySharedByProcessesAndNeededToVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "k.db")
	// Two handles opened at once on a new database, as the server and an admin command
	// would: they must make one key between them, not one each.
	var wg sync.WaitGroup
	handles := make([]*DB, 2)
	errs := make([]error, 2)
	for i := range handles {
		wg.Add(1)
		go func() { defer wg.Done(); handles[i], errs[i] = Open(ctx, path) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	admin, server := handles[0], handles[1]
	u, code := issueFor(t, admin, "alice")
	if _, err := server.CheckSetupCode(ctx, u.Email, code, PurposeSetup, time.Now()); err != nil {
		t.Fatalf("a code issued by one process is refused by the other: %v", err)
	}
	admin.Close()
	server.Close()

	// The database copied without its key file: the code cannot be verified.
	stolen := filepath.Join(t.TempDir(), "stolen.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stolen, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(ctx, stolen)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := d.SetupCodeOf(ctx, u.ID); err != nil || !c.Usable(time.Now()) {
		t.Fatalf("the copy lacks the code row (%+v, %v): the test proves nothing", c, err)
	}
	codeErr(t, func() error { _, err := d.CheckSetupCode(ctx, u.Email, code, PurposeSetup, time.Now()); return err }(), ErrCodeUnknown)
	d.Close()

	// With its key file, the original still verifies it.
	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.CheckSetupCode(ctx, u.Email, code, PurposeSetup, time.Now()); err != nil {
		t.Fatalf("reopened with its key: %v", err)
	}
}

func TestCodeKeyLooseModeIsFixedAndReported(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "k.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if d.CodeKeyNotice() != "" {
		t.Fatalf("notice on a fresh key: %q", d.CodeKeyNotice())
	}
	u, code := issueFor(t, d, "alice")
	d.Close()
	if err := os.Chmod(path+".codekey", 0o644); err != nil {
		t.Fatal(err)
	}

	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if info, _ := os.Stat(path + ".codekey"); info.Mode().Perm() != 0o600 {
		t.Fatalf("key file left at %04o", info.Mode().Perm())
	}
	if n := d.CodeKeyNotice(); !strings.Contains(n, "0644") || !strings.Contains(n, "0600") {
		t.Fatalf("notice %q", n)
	}
	evs, _ := d.EventsBefore(ctx, 0, 20)
	if len(evs) == 0 || evs[0].Kind != "db.code_key" || !evs[0].Failed() || !strings.Contains(evs[0].Summary, "0644") {
		t.Fatalf("no audit event for the loose key file: %+v", evs)
	}
	if _, err := d.CheckSetupCode(ctx, u.Email, code, PurposeSetup, time.Now()); err != nil {
		t.Fatalf("the key changed while its mode was fixed: %v", err)
	}
}

func TestCodeKeyDamagedRefusesToOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	if err := os.WriteFile(path+".codekey", []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), path)
	if err == nil {
		d.Close()
		t.Fatal("opened with a damaged key file")
	}
	if !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("error %v", err)
	}
}
