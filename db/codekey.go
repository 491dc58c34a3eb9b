package db

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Setup and recovery codes are stored as HMAC-SHA256 under a secret that lives in a file
// beside the database, never in it: a stolen copy of the database alone does not let
// anyone test candidate codes offline. Every process that opens the database (the server,
// and the admin commands that issue codes) reads the same file.

// CodeKeySuffix is appended to the database path to name the code key file:
// scimdesk.db -> scimdesk.db.codekey. Back it up with the database only if the live codes
// must survive a restore; without it, outstanding codes simply stop working.
const CodeKeySuffix = ".codekey"

// codeKeyBytes is the size of the HMAC key (the output size of SHA-256).
const codeKeyBytes = 32

// codeKey is the loaded key and what loading it had to repair, for the admin.
type codeKey struct {
	secret []byte
	notice string
}

// CodeKeyPath is the code key file of the database at dbPath.
func CodeKeyPath(dbPath string) string { return dbPath + CodeKeySuffix }

// CodeKeyNotice is a sentence for the admin when opening the database had to repair the
// code key file (it was readable by other users and is now 0600), or "" when all was well.
// The same sentence is in the audit log.
func (d *DB) CodeKeyNotice() string { return d.codeKey.notice }

// loadCodeKey reads the code key beside the database, creating it on first open, and
// tightens its mode to 0600 if it was looser, recording that in the audit log.
func (d *DB) loadCodeKey(ctx context.Context) error {
	path := CodeKeyPath(d.path)
	secret, loose, err := readOrCreateCodeKey(path)
	if err != nil {
		return err
	}
	d.codeKey.secret = secret
	if loose != 0 {
		d.codeKey.notice = fmt.Sprintf("the code key file %s was readable by other users (mode %04o); it is now 0600. "+
			"Anyone who could read it and the database can test setup codes offline: issue new codes to be safe", path, loose)
		return d.InsertEvent(ctx, Event{Kind: "db.code_key", Agent: "scimdesk", Subject: filepath.Base(path),
			Outcome: OutcomeFail, Summary: d.codeKey.notice})
	}
	return nil
}

// readOrCreateCodeKey returns the key in path, making the file if it does not exist. loose
// is the file's old permission bits if they let others read it (then fixed), else 0.
func readOrCreateCodeKey(path string) (secret []byte, loose fs.FileMode, err error) {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createCodeKey(path); err != nil {
			return nil, 0, err
		}
		info, err = os.Lstat(path)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("code key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("code key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, 0, fmt.Errorf("code key file %s is readable by other users (mode %04o) and cannot be made 0600: %w", path, perm, err)
		}
		loose = perm
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read code key file: %w", err)
	}
	secret, err = hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(secret) != codeKeyBytes {
		return nil, 0, fmt.Errorf("code key file %s is damaged (want %d hex-encoded bytes); delete it to make a new one, "+
			"which voids every outstanding setup and recovery code", path, codeKeyBytes)
	}
	return secret, loose, nil
}

// createCodeKey writes a fresh key to a temporary file and links it into place, so that a
// process opening the database at the same moment reads either no file or the whole key,
// and two processes creating it at once agree on one key (the loser's link fails).
func createCodeKey(path string) error {
	secret := make([]byte, codeKeyBytes)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".new-*") // mode 0600
	if err != nil {
		return fmt.Errorf("create code key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(secret) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write code key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create code key file: %w", err)
	}
	return nil
}

// replaceCodeKey makes secret the key of d's setup codes, in place of the one d was made
// with (a copy of another database carries that one's codes). On SQLite the key file is
// replaced whole (a temporary file renamed over it); on PostgreSQL its row.
func (d *DB) replaceCodeKey(ctx context.Context, secret []byte) error {
	if len(secret) != codeKeyBytes {
		return fmt.Errorf("a code key has %d bytes, not %d", codeKeyBytes, len(secret))
	}
	if d.pg {
		err := d.writeAdmin(ctx, func(tx *Tx) error {
			_, err := tx.tx.ExecContext(ctx, `UPDATE code_key SET secret = ? WHERE id = 1`, secret)
			return err
		})
		if err != nil {
			return mapErr(err)
		}
	} else {
		path := CodeKeyPath(d.path)
		tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".new-*") // mode 0600
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		_, err = tmp.WriteString(hex.EncodeToString(secret) + "\n")
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			return fmt.Errorf("write code key file: %w", err)
		}
	}
	d.codeKey.secret = append([]byte(nil), secret...)
	return nil
}

// codeHashLabel separates this use of the key from any other it may get later.
const codeHashLabel = "scimdesk setup code v2\x00"

// hashCode is the stored form of a canonical code: HMAC-SHA256 under the code key.
func (d *DB) hashCode(canon string) []byte {
	m := hmac.New(sha256.New, d.codeKey.secret)
	m.Write([]byte(codeHashLabel))
	m.Write([]byte(canon))
	return m.Sum(nil)
}
