// Command loadtest measures the SSH console of the real binary on 127.0.0.1, over a
// database of 100,000 users: how long a new SSH session takes to show its first frame, and
// how much resident memory 10 concurrent consoles add to the server.
//
//	CGO_ENABLED=0 go build -o scimdesk-bin . && go run ./sshconsole/loadtest -bin ./scimdesk-bin
//	go run ./sshconsole/loadtest -bin ./scimdesk-bin -users 20000 -sessions 5
//
// The server runs as a child process (`scimdesk serve --ssh-addr 127.0.0.1:0`), so that
// its RSS is its own; the clients are golang.org/x/crypto/ssh in this process. Everything
// stays on loopback and stops by itself.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"scimdesk/db"
)

func main() {
	bin := flag.String("bin", "", "the scimdesk binary to serve with (required)")
	users := flag.Int("users", 100_000, "users to seed")
	frames := flag.Int("frames", 20, "sessions opened one after another to time the first frame")
	sessions := flag.Int("sessions", 10, "consoles held open at once to measure memory")
	flag.Parse()
	if *bin == "" {
		fail("-bin is required: build the binary first (CGO_ENABLED=0 go build -o scimdesk-bin .)")
	}
	dir, err := os.MkdirTemp("", "scimdesk-sshload-")
	if err != nil {
		fail(err.Error())
	}
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, "scimdesk.db")
	seed(dbPath, *users)

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	keys := filepath.Join(dir, "admins.pub")
	os.WriteFile(keys, gossh.MarshalAuthorizedKey(signer.PublicKey()), 0o600)

	cmd := exec.Command(*bin, "serve", "--db", dbPath, "--addr", "127.0.0.1:0", "--ssh-addr", "127.0.0.1:0",
		"--ssh-authorized-keys", keys, "--ssh-max-sessions", strconv.Itoa(*sessions+2))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		fail(err.Error())
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	addr := ""
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := regexp.MustCompile(` ssh=(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if addr == "" {
		fail("the server printed no ssh= address")
	}
	cfg := &gossh.ClientConfig{User: "admin", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}

	// One session first, so that the measured ones do not pay for the server's warm-up
	// (the page cache, the first statements).
	warm := open(addr, cfg, "1 Provisioning")
	warm.close()
	time.Sleep(time.Second)

	var frame, data []time.Duration
	for range *frames {
		s := open(addr, cfg, "1 Provisioning")
		frame = append(frame, s.firstFrame)
		s.waitFor("SCIM ○ off") // the first poll landed: the frame with data
		data = append(data, s.withData)
		s.close()
	}
	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		fmt.Printf("%-44s median %6.1f ms   p90 %6.1f ms   max %6.1f ms   (%d sessions)\n", name,
			ms(d[len(d)/2]), ms(d[len(d)*9/10]), ms(d[len(d)-1]), len(d))
	}
	fmt.Printf("%d users, SSH at %s\n", *users, addr)
	report("connect + login + pty + shell → first frame", frame)
	report("connect → first frame with data (tab 1)", data)

	// Twice: the first round also warms what the server keeps whatever opens it (the
	// readers' page caches, the heap's headroom); the second shows what consoles cost once
	// that is paid.
	for round := 1; round <= 2; round++ {
		time.Sleep(2 * time.Second)
		before := rss(cmd.Process.Pid)
		var held []*session
		var usersTab []time.Duration
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range *sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := open(addr, cfg, "1 Provisioning")
				s.in.Write([]byte("3")) // the Users tab, the heaviest: a page of 100,000
				d := s.waitFor(commas(*users) + " users")
				mu.Lock()
				held = append(held, s)
				usersTab = append(usersTab, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
		report(fmt.Sprintf("round %d, %d at once: → Users tab counted", round, len(held)), usersTab)
		time.Sleep(3 * time.Second) // a few polls in every console
		after := rss(cmd.Process.Pid)
		fmt.Printf("round %d: server RSS %.1f MB before, %.1f MB with %d consoles on the Users tab: +%.1f MB (%.1f MB each)\n",
			round, mb(before), mb(after), len(held), mb(after-before), mb(after-before)/float64(len(held)))
		for _, s := range held {
			s.close()
		}
	}
}

// seed writes n users straight into a new database, as SCIM would have.
func seed(path string, n int) {
	ctx := context.Background()
	d, err := db.Open(ctx, path)
	if err != nil {
		fail(err.Error())
	}
	defer d.Close()
	for start := 0; start < n; start += 500 {
		err := d.Write(ctx, func(tx *db.Tx) error {
			for i := start; i < min(start+500, n); i++ {
				name := fmt.Sprintf("user%06d@example.com", i)
				u := &db.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), UserName: name, Email: name,
					GivenName: "User", FamilyName: fmt.Sprintf("N%06d", i), Active: i%10 != 0,
					Doc: []byte(`{"userName":"` + name + `"}`)}
				if err := tx.InsertUser(ctx, u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			fail(err.Error())
		}
	}
}

// session is one console, its output gathered as it comes.
type session struct {
	client     *gossh.Client
	sess       *gossh.Session
	in         io.Writer
	start      time.Time
	firstFrame time.Duration
	withData   time.Duration
	mu         sync.Mutex
	out        bytes.Buffer
	grew       chan struct{}
}

func (s *session) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.out.Write(p)
	s.mu.Unlock()
	select {
	case s.grew <- struct{}{}:
	default:
	}
	return len(p), nil
}

// open connects, logs in, asks for a terminal and the console, and waits for want.
func open(addr string, cfg *gossh.ClientConfig, want string) *session {
	s := &session{start: time.Now(), grew: make(chan struct{}, 1)}
	c, err := gossh.Dial("tcp", addr, cfg)
	if err != nil {
		fail(err.Error())
	}
	s.client = c
	if s.sess, err = c.NewSession(); err != nil {
		fail(err.Error())
	}
	s.sess.Stdout = s
	s.in, _ = s.sess.StdinPipe()
	if err := s.sess.RequestPty("xterm-256color", 24, 80, gossh.TerminalModes{}); err != nil {
		fail(err.Error())
	}
	if err := s.sess.Shell(); err != nil {
		fail(err.Error())
	}
	s.firstFrame = s.waitFor(want)
	return s
}

// waitFor waits until the output holds want and returns the time since connecting.
func (s *session) waitFor(want string) time.Duration {
	deadline := time.After(30 * time.Second)
	for {
		s.mu.Lock()
		ok := bytes.Contains(s.out.Bytes(), []byte(want))
		s.mu.Unlock()
		if ok {
			d := time.Since(s.start)
			s.withData = d
			return d
		}
		select {
		case <-s.grew:
		case <-deadline:
			fail(fmt.Sprintf("no %q in the console's output", want))
		}
	}
}

func (s *session) close() {
	s.in.Write([]byte("q"))
	s.sess.Wait()
	s.client.Close()
}

// rss is a process's resident memory, from /proc.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fail("cannot read the server's memory (Linux /proc): " + err.Error())
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "loadtest: "+msg)
	os.Exit(1)
}
