package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"scimdesk/db"
	"scimdesk/internal/testtool"
)

// sshKey writes an ed25519 key pair for the OpenSSH client: the private key (0600, as ssh
// demands) and its authorized-keys line with comment.
func sshKey(t *testing.T, dir, name, comment string) (privPath, line, fingerprint string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, comment)
	if err != nil {
		t.Fatal(err)
	}
	privPath = filepath.Join(dir, name)
	if err := os.WriteFile(privPath, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub))) + " " + comment
	return privPath, line, gossh.FingerprintSHA256(sshPub)
}

// lockedLog is the server's stderr, read while the server writes it.
type lockedLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLog) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestSSHConsoleEndToEnd serves the console over SSH from the real binary and connects
// with the real OpenSSH client, in tmux terminals: the listed key gets the console (after
// checking the host key the start line printed), an unknown key and passwords are
// refused, an action taken over SSH is in the audit log with the key's fingerprint, two
// consoles at once both see a user created over SCIM, and q ends one session while the
// other and the SCIM server go on.
func TestSSHConsoleEndToEnd(t *testing.T) {
	if testing.Short() {
		testtool.SkipUnlessCI(t, "-short: this test builds and runs the binary")
	}
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		testtool.SkipUnlessCI(t, "the OpenSSH client (ssh) is not installed, and this test connects with it (.ci/run installs it; on Debian: apt-get install openssh-client)")
	}
	testtool.NeedTmux(t)
	dir := t.TempDir()
	alicePriv, aliceLine, aliceFP := sshKey(t, dir, "alice", "alice@e2e")
	malloryPriv, _, _ := sshKey(t, dir, "mallory", "mallory@e2e")
	keysFile := filepath.Join(dir, "admins.pub")
	if err := os.WriteFile(keysFile, []byte(aliceLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	e := &e2e{t: t, bin: builtBinary(t), dbPath: filepath.Join(dir, "scim.db"), client: &http.Client{Timeout: 10 * time.Second}}
	createDB(t, e.dbPath)
	e.mustRun("", "scim", "enable")
	tokOut, _ := e.mustRun("", "token", "create", "--description", "e2e")
	e.token = strings.TrimSpace(strings.SplitN(tokOut, "\n", 2)[0])

	srv := exec.Command(e.bin, "serve", "--db", e.dbPath, "--addr", "127.0.0.1:0",
		"--ssh-addr", "127.0.0.1:0", "--ssh-authorized-keys", keysFile)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var log lockedLog
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.add(sc.Text())
			if strings.Contains(sc.Text(), `msg="scimdesk serving"`) {
				started <- sc.Text()
			}
		}
	}()
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	var startLine string
	select {
	case startLine = <-started:
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not start; log:\n%s", log.String())
	}
	field := func(name string) string {
		m := regexp.MustCompile(`\b` + name + `=(\S+)`).FindStringSubmatch(startLine)
		if m == nil {
			t.Fatalf("no %s= in the start line: %s", name, startLine)
		}
		return m[1]
	}
	e.base = strings.TrimSuffix(field("scim_url"), "/scim/v2")
	sshAddr, hostFP := field("ssh"), field("ssh_host_key")
	port := sshAddr[strings.LastIndex(sshAddr, ":")+1:]
	if e.store, err = db.Open(context.Background(), e.dbPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	// The heartbeat (written as the server starts serving) names the SSH console too, for
	// consoles attached to this server.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		beats, err := e.store.ReadHeartbeats(context.Background())
		var h db.Heartbeat
		if len(beats) == 1 {
			h = beats[0]
		}
		if err == nil && h.SSHAddr == sshAddr && h.SSHHostKey == hostFP {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat SSH %q %q (%d heartbeats, %v), want %q %q", h.SSHAddr, h.SSHHostKey, len(beats), err, sshAddr, hostFP)
		}
	}

	// The host key beside the database, 0600, is the one the start line names; ssh checks
	// it strictly against a known_hosts made from it.
	hostKeyFile := e.dbPath + ".ssh_host_ed25519_key"
	raw, err := os.ReadFile(hostKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(hostKeyFile); st.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %v, want 0600", st.Mode().Perm())
	}
	hostKey, err := gossh.ParsePrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if hostKey.PublicKey().Type() != gossh.KeyAlgoED25519 || gossh.FingerprintSHA256(hostKey.PublicKey()) != hostFP {
		t.Fatalf("start line says %s; the key file holds %s %s", hostFP, hostKey.PublicKey().Type(), gossh.FingerprintSHA256(hostKey.PublicKey()))
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	known := fmt.Sprintf("[127.0.0.1]:%s %s", port, gossh.MarshalAuthorizedKey(hostKey.PublicKey()))
	if err := os.WriteFile(knownHosts, []byte(known), 0o600); err != nil {
		t.Fatal(err)
	}
	sshArgs := func(extra ...string) []string {
		return append([]string{"-F", "/dev/null", "-p", port, "-o", "UserKnownHostsFile=" + knownHosts,
			"-o", "StrictHostKeyChecking=yes", "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes",
			"-o", "ConnectTimeout=10"}, extra...)
	}

	// Refused: a key not in the file, and any password (the server offers none).
	for name, extra := range map[string][]string{
		"an unknown key": {"-i", malloryPriv, "-o", "BatchMode=yes"},
		"a password": {"-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
			"-o", "BatchMode=yes"},
	} {
		cmd := exec.Command(sshBin, append(sshArgs(extra...), "admin@127.0.0.1")...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied (publickey)") {
			t.Errorf("%s: ssh was not refused as it should be: %v\n%s", name, err, out)
		}
	}

	// Two consoles at once, in terminals of different sizes: each in a tmux server of its
	// own (one server would size its detached sessions alike), on sockets of this test's.
	socket := fmt.Sprintf("scimdesk-ssh-e2e-%d-", os.Getpid())
	tmux := func(name string, args ...string) string {
		out, _ := exec.Command("tmux", append([]string{"-L", socket + name}, args...)...).CombinedOutput()
		return string(out)
	}
	sshCmd := strings.Join(append([]string{sshBin}, sshArgs("-i", alicePriv, "admin@127.0.0.1")...), " ")
	for name, size := range map[string][2]string{"a": {"80", "24"}, "b": {"120", "30"}} {
		t.Cleanup(func() { tmux(name, "kill-server") })
		tmux(name, "new-session", "-d", "-s", name, "-x", size[0], "-y", size[1], sshCmd+"; echo SSH-EXIT=$?; sleep 60")
	}
	screen := func(name string) string { return tmux(name, "capture-pane", "-p", "-t", name) }
	wait := func(name string, texts ...string) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			scr := screen(name)
			flat := strings.Join(strings.Fields(scr), " ")
			ok := true
			for _, w := range texts {
				ok = ok && strings.Contains(flat, w)
			}
			if ok {
				return scr
			}
			if time.Now().After(deadline) {
				t.Fatalf("console %s never showed %q; it shows:\n%s", name, texts, scr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	press := func(name string, keys ...string) { tmux(name, append([]string{"send-keys", "-t", name}, keys...)...) }
	for _, name := range []string{"a", "b"} {
		wait(name, "1 Provisioning", "SCIM ● on", "host key "+hostFP, "q end session")
	}
	// Each console has its own size: the wider one's tab bar reaches further.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		a, b := firstLine(screen("a")), firstLine(screen("b"))
		if len([]rune(a)) <= 80 && len([]rune(b)) > 80 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consoles do not each fit their terminal:\n80: %q\n120: %q", a, b)
		}
	}

	// An action over SSH: switch SCIM off (with its question) and on again.
	press("a", "e")
	wait("a", "Disable SCIM provisioning?")
	press("a", "y")
	wait("a", "SCIM ○ off")
	wait("b", "SCIM ○ off") // the other console follows
	press("a", "e")
	wait("a", "SCIM ● on")
	actor := "ssh:alice@e2e " + aliceFP
	evs, err := e.store.EventsAfter(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		switch ev.Kind {
		case "scim.enable", "scim.disable", "token.create":
			got = append(got, ev.Kind+" by "+ev.Agent)
		}
	}
	want := []string{"scim.enable by cli:e2e-admin", "token.create by cli:e2e-admin", "scim.disable by " + actor, "scim.enable by " + actor}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log actors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Live in both: a user created over SCIM shows on tab 3 of each console.
	press("a", "3")
	press("b", "3")
	e.scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"live.one@example.com"}`)
	wait("a", "live.one@example.com")
	wait("b", "live.one@example.com")

	// q ends console a only, without asking; b and the SCIM server go on.
	press("a", "q")
	wait("a", "SSH-EXIT=0")
	if strings.Contains(screen("a"), "Quit?") {
		t.Error("q over SSH asked whether to stop the server")
	}
	res, err := e.client.Get(e.base + "/healthz")
	if err != nil {
		t.Fatalf("the SCIM server stopped with the SSH session: %v", err)
	}
	res.Body.Close()
	e.scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"live.two@example.com"}`)
	wait("b", "live.two@example.com")
	press("b", "C-c")
	wait("b", "SSH-EXIT=0")
	e.scim("GET", "/Users?count=1", "")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimRight(line, " ")
}
