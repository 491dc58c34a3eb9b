package sshconsole

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	gossh "golang.org/x/crypto/ssh"
)

// HostKeyPath is where the host key of the console served for the database at dbPath is
// kept: beside the database, so that a backup of the directory keeps the server's identity.
func HostKeyPath(dbPath string) string { return dbPath + ".ssh_host_ed25519_key" }

// loadHostKey reads the host key at path, making an ed25519 one (0600 from its first byte)
// when there is none yet. created says it was made now. A key file others may read is
// made 0600, as the database is; fixed says so, for the log.
func loadHostKey(path string) (signer gossh.Signer, created, fixed bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		signer, err = createHostKey(path)
		return signer, err == nil, false, err
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("read SSH host key: %w", err)
	}
	signer, err = gossh.ParsePrivateKey(raw)
	if err != nil {
		return nil, false, false, fmt.Errorf("SSH host key %s: %w (move it away to have a new one made)", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, false, false, fmt.Errorf("SSH host key %s is readable by others and cannot be made 0600: %w", path, err)
		}
		fixed = true
	}
	return signer, false, fixed, nil
}

// createHostKey writes a new ed25519 host key in OpenSSH's format. O_EXCL: two servers
// starting at once cannot each write a key and end up with different identities.
func createHostKey(path string) (gossh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "scimdesk SSH console host key")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // the other starter won: use its key
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read SSH host key: %w", err)
		}
		return gossh.ParsePrivateKey(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("create SSH host key: %w", err)
	}
	if _, err := f.Write(pem.EncodeToMemory(block)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write SSH host key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write SSH host key: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write SSH host key: %w", err)
	}
	return gossh.NewSignerFromKey(priv)
}
