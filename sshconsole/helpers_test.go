package sshconsole

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	gossh "golang.org/x/crypto/ssh"

	"scimdesk/internal/testtool"
)

// testKey is an admin's key pair, as a client holds it.
type testKey struct {
	signer  gossh.Signer
	comment string
}

func newTestKey(t *testing.T, comment string) testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer: s, comment: comment}
}

// line is the key's authorized-keys line.
func (k testKey) line() string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k.signer.PublicKey()))) + " " + k.comment
}

func (k testKey) fingerprint() string { return gossh.FingerprintSHA256(k.signer.PublicKey()) }

// writeKeys writes an authorized-keys file, with a modification time that differs from
// the last write's, as an editor's save would have.
func writeKeys(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writes++
	at := time.Now().Add(time.Duration(writes) * time.Second)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

var writes int

// echoModel is a console that shows who it serves and the size of its terminal, and
// quits on q: the package's part is the SSH around it, not the console.
type echoModel struct {
	s    Session
	size string
}

func (m echoModel) Init() tea.Cmd { return nil }
func (m echoModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if msg.String() == "q" {
			return m, tea.Quit
		}
	case tea.WindowSizeMsg:
		m.size = fmt.Sprintf("%dx%d", msg.Width, msg.Height)
	}
	return m, nil
}
func (m echoModel) View() tea.View {
	return tea.NewView("console for " + m.s.Actor + " on " + m.size + ".")
}

// env is a running SSH console service on 127.0.0.1:0.
type env struct {
	srv      *Server
	dir      string
	keysPath string
	log      *testtool.SyncBuffer
	hostKey  gossh.PublicKey
}

func startServer(t *testing.T, cfg Config, keyLines ...string) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), log: &testtool.SyncBuffer{}}
	e.keysPath = filepath.Join(e.dir, "admins.pub")
	writeKeys(t, e.keysPath, keyLines...)
	cfg.Addr = "127.0.0.1:0"
	cfg.HostKeyPath = filepath.Join(e.dir, "scimdesk.db.ssh_host_ed25519_key")
	cfg.AuthorizedKeys = e.keysPath
	cfg.Logger = slog.New(slog.NewTextHandler(e.log, nil))
	if cfg.Console == nil {
		cfg.Console = func(_ context.Context, s Session) (tea.Model, error) { return echoModel{s: s}, nil }
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return e
}

// dial logs in with the given methods; the host key the server showed is recorded.
func (e *env) dial(auth ...gossh.AuthMethod) (*gossh.Client, error) {
	return gossh.Dial("tcp", e.srv.Addr(), &gossh.ClientConfig{
		User: "admin", Auth: auth, Timeout: 10 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, key gossh.PublicKey) error {
			e.hostKey = key
			return nil
		},
	})
}

func (e *env) login(t *testing.T, k testKey) *gossh.Client {
	t.Helper()
	c, err := e.dial(gossh.PublicKeys(k.signer))
	if err != nil {
		t.Fatalf("login with %s: %v", k.comment, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// console is one session on a terminal, its output gathered as it comes.
type console struct {
	sess   *gossh.Session
	in     interface{ Write([]byte) (int, error) }
	out    *testtool.SyncBuffer
	stderr *testtool.SyncBuffer
	done   chan error
}

// openConsole asks for a terminal and a shell, as `ssh host` does.
func openConsole(t *testing.T, c *gossh.Client) (*console, error) {
	t.Helper()
	return openConsoleSized(t, c, 24, 80)
}

// openConsoleSized is openConsole on a terminal of rows×cols.
func openConsoleSized(t *testing.T, c *gossh.Client, rows, cols int) (*console, error) {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		return nil, err
	}
	con := &console{sess: sess, out: &testtool.SyncBuffer{}, stderr: &testtool.SyncBuffer{}, done: make(chan error, 1)}
	sess.Stdout, sess.Stderr = con.out, con.stderr
	if con.in, err = sess.StdinPipe(); err != nil {
		return nil, err
	}
	if err := sess.RequestPty("xterm-256color", rows, cols, gossh.TerminalModes{}); err != nil {
		return nil, err
	}
	if err := sess.Shell(); err != nil {
		return nil, err
	}
	go func() { con.done <- sess.Wait() }()
	return con, nil
}

// waitFor waits until the console's output (or its stderr) holds want.
func (con *console) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(con.out.String(), want) || strings.Contains(con.stderr.String(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in the session's output:\n%q\nstderr: %q", want, con.out.String(), con.stderr.String())
}

// ended waits for the session to end and returns how.
func (con *console) ended(t *testing.T) error {
	t.Helper()
	select {
	case err := <-con.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("the session did not end; output %q", con.out.String())
		return nil
	}
}

// exitStatus is the session's exit status (0 for a clean end).
func exitStatus(err error) int {
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus()
	}
	if err != nil {
		return -1
	}
	return 0
}
