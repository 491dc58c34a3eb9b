package sshconsole

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Only the keys listed let in, as the file says now: a bad line is reported with its number
// and skipped while the others count, a key with options is not let in (its options would
// not be enforced), passwords and keyboard-interactive are refused, and an edit of the file
// applies from the next login without a restart.
func TestAuthorizedKeysRules(t *testing.T) {
	alice, bob, carol := newTestKey(t, "alice@laptop"), newTestKey(t, "bob@desk"), newTestKey(t, "carol")
	e := startServer(t, Config{},
		"# the admins",
		alice.line(),
		"ssh-ed25519 not-base64 broken@line",
		`from="10.0.0.0/8" `+carol.line(),
	)
	log := e.log.String()
	for _, want := range []string{"line 3: not an OpenSSH public key", "line 4: options (from="} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not report %q:\n%s", want, log)
		}
	}

	aliceConn := e.login(t, alice)
	con, err := openConsole(t, aliceConn)
	if err != nil {
		t.Fatal(err)
	}
	con.waitFor(t, "console for ssh:alice@laptop "+alice.fingerprint())

	for name, auth := range map[string]gossh.AuthMethod{
		"an unlisted key":      gossh.PublicKeys(bob.signer),
		"a key with options":   gossh.PublicKeys(carol.signer),
		"a password":           gossh.Password("alice"),
		"keyboard-interactive": gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return nil, nil }),
	} {
		if c, err := e.dial(auth); err == nil {
			c.Close()
			t.Errorf("%s was let in", name)
		}
	}

	// The file changes: bob in, alice out. Alice's open console may finish; her next
	// login is refused.
	writeKeys(t, e.keysPath, bob.line())
	if c, err := e.dial(gossh.PublicKeys(alice.signer)); err == nil {
		c.Close()
		t.Error("alice was let in after her key was removed from the file")
	}
	// Nor does her connection from before get another console.
	again, err := openConsole(t, aliceConn)
	if err != nil {
		t.Fatal(err)
	}
	again.waitFor(t, "your key is no longer authorized")
	if st := exitStatus(again.ended(t)); st != 1 || strings.Contains(again.out.String(), "console for") {
		t.Errorf("a removed key got a console on its old connection (status %d)", st)
	}
	con, err = openConsole(t, e.login(t, bob))
	if err != nil {
		t.Fatal(err)
	}
	con.waitFor(t, "console for ssh:bob@desk "+bob.fingerprint())

	// A file others may write lets nobody in, until it is fixed.
	if err := os.Chmod(e.keysPath, 0o666); err != nil {
		t.Fatal(err)
	}
	if c, err := e.dial(gossh.PublicKeys(bob.signer)); err == nil {
		c.Close()
		t.Error("bob was let in with the authorized-keys file writable by anyone")
	}
	if !strings.Contains(e.log.String(), "writable by others than its owner") {
		t.Errorf("the log does not say why nobody gets in:\n%s", e.log.String())
	}
	if err := os.Chmod(e.keysPath, 0o644); err != nil {
		t.Fatal(err)
	}
	e.login(t, bob)

	// A file that disappears lets nobody in.
	if err := os.Remove(e.keysPath); err != nil {
		t.Fatal(err)
	}
	if c, err := e.dial(gossh.PublicKeys(bob.signer)); err == nil {
		c.Close()
		t.Error("bob was let in with the authorized-keys file gone")
	}
}

// The host key is ed25519, made 0600 on first start, kept across restarts, and its
// fingerprint is the one a client sees.
func TestHostKey(t *testing.T) {
	alice := newTestKey(t, "alice")
	e := startServer(t, Config{}, alice.line())
	e.login(t, alice)
	if e.hostKey == nil || e.hostKey.Type() != gossh.KeyAlgoED25519 {
		t.Fatalf("host key %v, want ed25519", e.hostKey)
	}
	if got := gossh.FingerprintSHA256(e.hostKey); got != e.srv.Fingerprint() || !strings.HasPrefix(got, "SHA256:") {
		t.Errorf("client saw %s, server says %s", got, e.srv.Fingerprint())
	}
	fi, err := os.Stat(e.srv.cfg.HostKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := New(e.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != e.srv.Fingerprint() {
		t.Error("a restart made a new host key")
	}
	// A key file made readable by others (a restored backup, a careless chmod) is made
	// private again at start, and the log says so.
	if err := os.Chmod(e.srv.cfg.HostKeyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(e.srv.cfg); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(e.srv.cfg.HostKeyPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("host key left %v", fi.Mode().Perm())
	}
	if !strings.Contains(e.log.String(), "readable by others: made 0600") {
		t.Errorf("the log does not say the host key was fixed:\n%s", e.log.String())
	}
}

// A session gets the console and nothing else: no command, no subsystem (SFTP), no shell
// without a terminal, no agent or X11 forwarding, no port forwarding either way.
func TestRefusesWhatIsNotTheConsole(t *testing.T) {
	alice := newTestKey(t, "alice")
	e := startServer(t, Config{}, alice.line())
	c := e.login(t, alice)

	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := sess.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start("id"); err == nil {
		t.Error("exec was granted")
	}
	sess.Close()
	if why, _ := io.ReadAll(stderr); !strings.Contains(string(why), "runs no commands") {
		t.Errorf("exec refused without a reason: %q", why)
	}

	sess, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestSubsystem("sftp"); err == nil {
		t.Error("the sftp subsystem was granted")
	}
	sess.Close()

	sess, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err == nil {
		t.Error("a shell without a terminal was granted")
	}
	sess.Close()

	sess, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []string{"auth-agent-req@openssh.com", "x11-req"} {
		if ok, err := sess.SendRequest(req, true, nil); ok || err != nil {
			t.Errorf("%s: granted %v, err %v", req, ok, err)
		}
	}
	sess.Close()

	// Port forwarding: to a listener of the test, and from the server's side.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if conn, err := c.Dial("tcp", ln.Addr().String()); err == nil {
		conn.Close()
		t.Error("local port forwarding (direct-tcpip) was granted")
	}
	if rln, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		rln.Close()
		t.Error("remote port forwarding (tcpip-forward) was granted")
	}

	// After all that the connection still serves the console.
	con, err := openConsole(t, c)
	if err != nil {
		t.Fatal(err)
	}
	con.waitFor(t, "console for ssh:alice")
}

// At most MaxSessions consoles at once: the one more is told why and closed, and a slot
// freed by q can be taken again.
func TestSessionCap(t *testing.T) {
	alice := newTestKey(t, "alice")
	e := startServer(t, Config{MaxSessions: 2}, alice.line())
	var open []*console
	for range 2 {
		con, err := openConsole(t, e.login(t, alice))
		if err != nil {
			t.Fatal(err)
		}
		con.waitFor(t, "console for ssh:alice")
		open = append(open, con)
	}
	extra, err := openConsole(t, e.login(t, alice))
	if err != nil {
		t.Fatal(err)
	}
	extra.waitFor(t, "2 consoles are open already")
	if st := exitStatus(extra.ended(t)); st != 1 {
		t.Errorf("the extra session ended with %d, want 1", st)
	}
	if strings.Contains(extra.out.String(), "console for") {
		t.Error("the extra session was shown the console")
	}

	open[0].in.Write([]byte("q"))
	if st := exitStatus(open[0].ended(t)); st != 0 {
		t.Errorf("q ended the session with %d, want 0", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.Sessions() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	again, err := openConsole(t, e.login(t, alice))
	if err != nil {
		t.Fatal(err)
	}
	again.waitFor(t, "console for ssh:alice")

	// Nor can one connection hold more session channels than that, shell or not.
	c := e.login(t, alice)
	for i := range 3 {
		sess, err := c.NewSession()
		if i < 2 && err != nil {
			t.Fatalf("session channel %d: %v", i+1, err)
		}
		if i == 2 {
			if err == nil {
				sess.Close()
				t.Error("a third session channel was opened on one connection")
			}
			continue
		}
		defer sess.Close()
	}
}

// A console nobody types into is closed after IdleTimeout, saying so.
func TestIdleTimeout(t *testing.T) {
	alice := newTestKey(t, "alice")
	e := startServer(t, Config{IdleTimeout: 300 * time.Millisecond}, alice.line())
	con, err := openConsole(t, e.login(t, alice))
	if err != nil {
		t.Fatal(err)
	}
	con.waitFor(t, "console for ssh:alice")
	con.ended(t)
	if !strings.Contains(con.stderr.String(), "closed after 300ms without input") {
		t.Errorf("the idle session was closed without a word: %q", con.stderr.String())
	}
	if !strings.Contains(e.log.String(), "SSH console closed: idle") {
		t.Errorf("the log does not say why the session closed:\n%s", e.log.String())
	}
}

// What a client that never logs in can hold is bounded: a handshake that does not finish
// is cut at HandshakeTimeout, and at MaxPending such connections the next is closed at once.
func TestUnauthenticatedConnectionsAreBounded(t *testing.T) {
	alice := newTestKey(t, "alice")
	e := startServer(t, Config{MaxPending: 2, HandshakeTimeout: 2 * time.Second}, alice.line())
	var silent []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", e.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		silent = append(silent, conn)
	}
	// Let the server take both in before the third.
	for _, c := range silent {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4)
		if _, err := c.Read(buf); err != nil || string(buf) != "SSH-" {
			t.Fatalf("no server banner: %q %v", buf, err)
		}
	}
	if _, err := e.dial(gossh.PublicKeys(alice.signer)); err == nil {
		t.Error("a login got through with MaxPending connections still pending")
	}
	// The silent ones are cut at the handshake timeout, after which alice gets in.
	for _, c := range silent {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("a silent connection outlived the handshake timeout")
				}
				break
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.pending.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	e.login(t, alice)
}

func TestActor(t *testing.T) {
	fp := "SHA256:abc"
	for comment, want := range map[string]string{
		"alice@laptop":                "ssh:alice@laptop SHA256:abc",
		"":                            "ssh:SHA256:abc",
		"  two   words ":              "ssh:two words SHA256:abc",
		"evil\x1b]52;c;aGk=\x07":      "ssh:evil�]52;c;aGk=� SHA256:abc",
		"bad\xffutf8":                 "ssh:bad�utf8 SHA256:abc",
		strings.Repeat("x", 200):      "ssh:" + strings.Repeat("x", 63) + "… SHA256:abc",
		"line\nbreak\rand\ttab\u0085": "ssh:line�break�and�tab� SHA256:abc",
	} {
		if got := Actor(comment, fp); got != want {
			t.Errorf("Actor(%q) = %q, want %q", comment, got, want)
		}
	}
}

// A terminal size a client claims is bounded (the console allocates its screen by it), at
// the start and on every resize; an ordinary size passes as it is. (The sizes here are
// modest, so that a missing bound fails the test rather than the machine.)
func TestTerminalSizeIsBounded(t *testing.T) {
	alice := newTestKey(t, "alice")
	e := startServer(t, Config{}, alice.line())
	con, err := openConsoleSized(t, e.login(t, alice), 300, 1000)
	if err != nil {
		t.Fatal(err)
	}
	con.waitFor(t, fmt.Sprintf(" on %dx%d.", maxCols, maxRows))
	resize := func(cols, rows uint32) {
		if _, err := con.sess.SendRequest("window-change", false, gossh.Marshal(struct{ Cols, Rows, X, Y uint32 }{cols, rows, 0, 0})); err != nil {
			t.Fatal(err)
		}
	}
	resize(132, 43)
	con.waitFor(t, " on 132x43.")
	resize(2000, 43)
	con.waitFor(t, fmt.Sprintf(" on %dx43.", maxCols))
}
