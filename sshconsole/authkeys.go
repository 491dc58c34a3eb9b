package sshconsole

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"
)

// maxKeysFile bounds what is read of the authorized-keys file: it is a list of admins, and
// a file grown by mistake must not be read into memory at every login.
const maxKeysFile = 1 << 20

// authorizedKey is one admin's key from the authorized-keys file.
type authorizedKey struct {
	key         gossh.PublicKey
	comment     string
	fingerprint string
	line        int
}

// authorizedKeys is the authorized-keys file, read again whenever it changes: it is looked
// at (one stat) at each login attempt, so that adding or removing an admin needs no
// restart, and a removed key is refused from the next attempt on.
type authorizedKeys struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	stat   os.FileInfo               // of the version read; nil before the first read
	keys   map[string]*authorizedKey // by the key's wire form
	failed string                    // why the file could not be read, "" when it was
}

func newAuthorizedKeys(path string, log *slog.Logger) (*authorizedKeys, error) {
	a := &authorizedKeys{path: path, log: log}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--ssh-authorized-keys: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("--ssh-authorized-keys %s is a directory, not an authorized-keys file", path)
	}
	a.mu.Lock()
	a.refreshLocked()
	failed := a.failed
	a.mu.Unlock()
	if failed != "" {
		return nil, fmt.Errorf("--ssh-authorized-keys: %s", failed)
	}
	return a, nil
}

// lookup returns the authorized entry of key, reading the file first if it changed.
func (a *authorizedKeys) lookup(key gossh.PublicKey) (*authorizedKey, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refreshLocked()
	k, ok := a.keys[string(key.Marshal())]
	return k, ok
}

// count is how many keys the file lets in now.
func (a *authorizedKeys) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refreshLocked()
	return len(a.keys)
}

// refreshLocked reads the file again if it is another file, or another version of it,
// than the one read last. A file that cannot be read lets nobody in (it may have been
// emptied on purpose): refusing is the safe side.
func (a *authorizedKeys) refreshLocked() {
	fi, err := os.Stat(a.path)
	if err != nil {
		a.fail(fmt.Sprintf("cannot read %s: %v; nobody can log in over SSH until it is back", a.path, err))
		return
	}
	if fi.Mode().Perm()&0o022 != 0 {
		// As OpenSSH's StrictModes: whoever may write the file may make themselves admin.
		a.fail(fmt.Sprintf("%s is writable by others than its owner: nobody can log in over SSH until `chmod go-w %s`", a.path, a.path))
		return
	}
	if a.stat != nil && a.failed == "" && os.SameFile(a.stat, fi) && fi.ModTime().Equal(a.stat.ModTime()) && fi.Size() == a.stat.Size() {
		return
	}
	keys, problems, err := readAuthorizedKeys(a.path)
	if err != nil {
		a.fail(err.Error() + "; nobody can log in over SSH until it is fixed")
		return
	}
	a.stat, a.keys, a.failed = fi, keys, ""
	for _, p := range problems {
		a.log.Warn("SSH authorized keys: line skipped", "file", a.path, "problem", p)
	}
	a.log.Info("SSH authorized keys read", "file", a.path, "keys", len(keys), "skipped", len(problems))
}

// fail forgets every key, logging why once per change of reason.
func (a *authorizedKeys) fail(why string) {
	if a.failed != why {
		a.log.Warn("SSH authorized keys: " + why)
	}
	a.stat, a.keys, a.failed = nil, nil, why
}

// readAuthorizedKeys parses an OpenSSH authorized-keys file. A line that is not a key, or
// that carries options (from=, command=, restrict…, which this server does not enforce and
// so must not seem to), is skipped and reported with its number; the other lines still count.
func readAuthorizedKeys(path string) (map[string]*authorizedKey, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer f.Close()
	keys := map[string]*authorizedKey{}
	var problems []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxKeysFile)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		pub, comment, options, rest, err := gossh.ParseAuthorizedKey(line)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("line %d: not an OpenSSH public key (%v)", n, err))
			continue
		case len(options) > 0:
			problems = append(problems, fmt.Sprintf("line %d: options (%s) are not supported here: give the key alone", n, strings.Join(options, ",")))
			continue
		case len(bytes.TrimSpace(rest)) > 0:
			problems = append(problems, fmt.Sprintf("line %d: one key per line", n))
			continue
		}
		if _, isCert := pub.(*gossh.Certificate); isCert {
			problems = append(problems, fmt.Sprintf("line %d: a certificate, not a public key", n))
			continue
		}
		fp := gossh.FingerprintSHA256(pub)
		if _, dup := keys[string(pub.Marshal())]; dup {
			continue // the first line's comment names the admin
		}
		keys[string(pub.Marshal())] = &authorizedKey{key: pub, comment: comment, fingerprint: fp, line: n}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("cannot read %s: %w (is it an authorized-keys file? at most %d bytes, one key per line)", path, err, maxKeysFile)
	}
	return keys, problems, nil
}
