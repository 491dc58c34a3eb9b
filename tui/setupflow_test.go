package tui

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/charmbracelet/x/vt"

	"scimdesk/db"
	"scimdesk/keys"
	"scimdesk/scimserver"
)

// The setup flow against a real server on 127.0.0.1:0 over a real database. Keys are made
// with the server's minimum argon2id cost, the cheapest it accepts.

const flowPass = "copper lantern orbit 47 meadow"

type flowWorld struct {
	t    *testing.T
	d    *db.DB
	srv  *scimserver.Server
	base string
}

func newFlowWorld(t *testing.T) *flowWorld {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "setup.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := scimserver.New(d, scimserver.Config{Addr: "127.0.0.1:0", HeartbeatEvery: time.Second})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; d.Close() })
	return &flowWorld{t: t, d: d, srv: srv, base: srv.BaseURL()}
}

// pending adds a pending user and issues a code; it returns the user's id and the code.
func (w *flowWorld) pending(name string) (string, string) {
	w.t.Helper()
	ctx := context.Background()
	u := &db.User{ID: "id-" + name, UserName: name + "@example.com", Email: name + "@example.com", Active: true, Doc: []byte(`{}`)}
	if err := w.d.Write(ctx, func(tx *db.Tx) error { return tx.InsertUser(ctx, u) }); err != nil {
		w.t.Fatal(err)
	}
	return u.ID, w.code(u.ID, db.PurposeSetup)
}

func (w *flowWorld) code(userID, purpose string) string {
	w.t.Helper()
	_, code, err := w.d.IssueSetupCode(context.Background(), userID, purpose, "admin:test")
	if err != nil {
		w.t.Fatal(err)
	}
	return code
}

// storedBundle reads back what the server stored for the user.
func (w *flowWorld) storedBundle(userID string) keys.Bundle {
	w.t.Helper()
	k, err := w.d.UserKey(context.Background(), userID)
	if err != nil {
		w.t.Fatal(err)
	}
	b := keys.Bundle{KeyAlg: k.Alg, PublicKey: k.PublicKey}
	if err := json.Unmarshal([]byte(k.Passphrase), &b.Passphrase); err != nil {
		w.t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(k.Recovery), &b.Recovery); err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (w *flowWorld) options(purpose, email string) SetupOptions {
	return SetupOptions{Purpose: purpose, Server: w.base, Email: email, Params: scimserver.MinKDF(), Dir: w.t.TempDir()}
}

func flowKey(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "ctrl+u":
		return tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}
	case "ctrl+o":
		return tea.KeyPressMsg{Code: 'o', Mod: tea.ModCtrl}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// flowScreen is the real program (teatest) drawing into an 80x24 terminal emulator.
type flowScreen struct {
	t   *testing.T
	tm  *teatest.TestModel
	emu *vt.Emulator
}

func newFlowScreen(t *testing.T, f *setupFlow) *flowScreen {
	t.Helper()
	tm := teatest.NewTestModel(t, f, teatest.WithInitialTermSize(80, 24))
	emu := vt.NewEmulator(80, 24)
	// The emulator's answers to the program's queries; unread, they block it. The emulator
	// is not closed: its Close races with a pending Read (x/vt v0.1.0), and the goroutine
	// ends with the test binary.
	go io.Copy(io.Discard, emu)
	return &flowScreen{t: t, tm: tm, emu: emu}
}

func (s *flowScreen) screen() string {
	if b, _ := io.ReadAll(s.tm.Output()); len(b) > 0 {
		// No tty turns \n into \r\n here (ONLCR), so do it for the emulator.
		s.emu.Write(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
	}
	return s.emu.String()
}

func (s *flowScreen) wait(texts ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		scr := s.screen()
		ok := true
		for _, want := range texts {
			ok = ok && strings.Contains(scr, want)
		}
		if ok {
			// The whole flow fits 80x24: the title never scrolls away.
			if first, _, _ := strings.Cut(scr, "\n"); !strings.Contains(first, "scimdesk setup") {
				s.t.Fatalf("the title scrolled off the 80x24 screen:\n%s", scr)
			}
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen never showed %q; it shows:\n%s", texts, scr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *flowScreen) keys(keys ...string) {
	for _, k := range keys {
		s.tm.Send(flowKey(k))
	}
}

var (
	recoveryKeyRe = regexp.MustCompile(`[0-9A-Z]{5}(-[0-9A-Z]{5}){6}`)
	groupsRe      = regexp.MustCompile(`type groups (\d) and (\d)`)
)

// TestSetupFlowScreen runs the whole interactive setup at 80x24, with the mistakes people
// make on the way, and checks what the server stored.
func TestSetupFlowScreen(t *testing.T) {
	w := newFlowWorld(t)
	id, code := w.pending("alice")
	opts := w.options(db.PurposeSetup, "alice@example.com")
	s := newFlowScreen(t, newSetupFlow(context.Background(), opts))

	s.wait("Sign in", "Server  › "+w.base, "alice@example.com")
	// A wrong code: told so, cursor back in the code.
	s.tm.Type(otherCode(t, code))
	s.keys("enter")
	s.wait("Unknown code: check it, or ask your admin for a new one")
	s.keys("ctrl+u")
	s.tm.Type(strings.ToLower(code))
	s.keys("enter")
	s.wait("Choose a passphrase for alice@example.com", "Strength")

	s.tm.Type("short")
	s.wait("very weak ✗")
	s.keys("enter")
	s.wait("Too short: use at least 12 characters")
	s.keys("ctrl+u")
	s.tm.Type(flowPass)
	scr := s.wait("strong ✓")
	if strings.Contains(scr, flowPass) || strings.Contains(scr, "Too short") {
		t.Fatalf("passphrase shown, or a stale error:\n%s", scr)
	}
	s.keys("enter")
	s.tm.Type(flowPass + "!")
	s.keys("enter")
	s.wait("The two passphrases differ")
	s.tm.Type(flowPass)
	s.keys("enter")

	scr = s.wait("Your recovery key — shown only this once", "s save to a file")
	rkText := recoveryKeyRe.FindString(scr)
	if rkText == "" {
		t.Fatalf("no recovery key on screen:\n%s", scr)
	}
	if n, err := w.d.UserKey(context.Background(), id); err == nil {
		t.Fatalf("key stored before the recovery key was confirmed: %+v", n)
	}
	s.keys("s")
	s.wait("Save to › ", "/scimdesk-recovery-alice@example.com.txt") // a long path scrolls in its field
	s.keys("enter")
	s.wait("✓ Saved to")
	saved := filepath.Join(opts.Dir, "scimdesk-recovery-alice@example.com.txt")
	if st, err := os.Stat(saved); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v %v", st, err)
	}
	if b, _ := os.ReadFile(saved); !strings.HasPrefix(string(b), rkText+"\n") {
		t.Fatalf("saved file starts %q", b)
	}
	// Saving again never overwrites.
	s.keys("s", "enter")
	s.wait("already exists: choose another name")
	s.keys("esc")

	s.keys("enter")
	scr = s.wait("To be sure you have it")
	m := groupsRe.FindStringSubmatch(scr)
	if m == nil {
		t.Fatalf("no groups asked:\n%s", scr)
	}
	groups := strings.Split(rkText, "-")
	var g1, g2 int
	fmt.Sscan(m[1], &g1)
	fmt.Sscan(m[2], &g2)
	s.tm.Type("AAAAA AAAAA")
	s.keys("enter")
	s.wait("That is not groups")
	s.keys("esc")
	s.wait("shown only this once", rkText) // the key can be read again before confirming
	s.keys("enter")
	s.wait("To be sure you have it")
	s.tm.Type(strings.ToLower(groups[g1-1] + " " + groups[g2-1]))
	s.keys("enter")
	scr = s.wait("✓ Done: alice@example.com is ready.", "Recovery key saved in")
	if strings.Contains(scr, rkText) {
		t.Fatal("the recovery key is still on screen")
	}
	s.keys("enter")
	s.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	res := s.tm.FinalModel(t).(*setupFlow).result
	if !res.Done || res.UserName != "alice@example.com" || res.RecoveryFile != saved {
		t.Fatalf("result %+v", res)
	}

	// What the server holds opens with the passphrase and with the recovery key.
	b := w.storedBundle(id)
	rk, err := keys.ParseRecoveryKey(rkText)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.VerifyBundle(b, id, []byte(flowPass), rk); err != nil {
		t.Fatalf("stored bundle: %v", err)
	}
	if u, _ := w.d.UserByID(context.Background(), id); u.Status() != db.StatusReady {
		t.Fatalf("status %s", u.Status())
	}
}

// flowDriver runs the model without a program: messages go to Update, Cmds run in
// goroutines and their messages come back through a channel, so a test can say "go on
// until the flow reaches this step".
type flowDriver struct {
	t    *testing.T
	f    *setupFlow
	msgs chan tea.Msg
}

func newFlowDriver(t *testing.T, o SetupOptions) *flowDriver {
	d := &flowDriver{t: t, f: newSetupFlow(context.Background(), o), msgs: make(chan tea.Msg, 256)}
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.run(d.f.Init())
	return d
}

func (d *flowDriver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if batch, ok := msg.(tea.BatchMsg); ok {
			for _, c := range batch {
				d.run(c)
			}
			return
		}
		if _, tick := msg.(spinner.TickMsg); tick || msg == nil {
			return // the spinner would tick forever
		}
		select {
		case d.msgs <- msg:
		case <-time.After(10 * time.Second):
		}
	}()
}

func (d *flowDriver) send(msg tea.Msg) {
	_, cmd := d.f.Update(msg)
	d.run(cmd)
}

func (d *flowDriver) keys(keys ...string) {
	for _, k := range keys {
		d.send(flowKey(k))
	}
}

func (d *flowDriver) typeText(s string) { d.send(tea.PasteMsg{Content: s}) }

func (d *flowDriver) view() string { return ansi.Strip(d.f.View().Content) }

// until handles messages until the flow is at step, and returns the view.
func (d *flowDriver) until(step setupFlowStep) string {
	d.t.Helper()
	deadline := time.After(10 * time.Second)
	for d.f.step != step {
		select {
		case m := <-d.msgs:
			d.send(m)
		case <-deadline:
			d.t.Fatalf("flow at step %d, want %d; the view is:\n%s", d.f.step, step, d.view())
		}
	}
	v := d.view()
	if n := strings.Count(v, "\n") + 1; n > 24 {
		d.t.Errorf("view has %d lines, more than 24:\n%s", n, v)
	}
	for _, l := range strings.Split(v, "\n") {
		if ansi.StringWidth(l) > 80 {
			d.t.Errorf("line wider than 80: %q", l)
		}
	}
	return v
}

// want checks that the view says every fragment, however the lines wrap.
func (d *flowDriver) want(v string, fragments ...string) {
	d.t.Helper()
	flat := strings.Join(strings.Fields(v), " ")
	for _, f := range fragments {
		if !strings.Contains(flat, strings.Join(strings.Fields(f), " ")) {
			d.t.Errorf("view lacks %q:\n%s", f, v)
		}
	}
}

// passphrase types the passphrase twice.
func (d *flowDriver) passphrase(p string) {
	d.typeText(p)
	d.keys("enter")
	d.typeText(p)
	d.keys("enter")
}

// TestSetupFlowServerProblems: a server that is down, then one whose certificate is not
// trusted, then the same one with --ca-file; each time the user fixes the URL in place.
func TestSetupFlowServerProblems(t *testing.T) {
	w := newFlowWorld(t)
	id, code := w.pending("bob")

	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()

	tlsSrv := httptest.NewUnstartedServer(w.srv.Handler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	o := w.options(db.PurposeSetup, "bob@example.com")
	o.Server, o.Code = deadURL, code
	d := newFlowDriver(t, o)
	d.keys("enter")
	v := d.until(sfChecking)
	d.want(v, "Checking your code with "+deadURL)
	v = d.until(sfSignIn)
	d.want(v, "Cannot reach the server at "+deadURL+": is scimdesk running?")
	if d.f.focus != sfFieldServer {
		t.Fatalf("focus on field %d, want the server", d.f.focus)
	}

	d.keys("ctrl+u")
	d.typeText(tlsSrv.URL)
	d.keys("enter")
	d.until(sfChecking)
	v = d.until(sfSignIn)
	d.want(v, "is not trusted", "--ca-file")

	// The same server, trusted through its CA: the code was never spent on the way.
	d.f.opts.CAFile = caFile
	d.keys("enter")
	d.until(sfPassphrase)
	d.passphrase(flowPass)
	d.until(sfShowKey)
	rk := d.f.rkText
	d.keys("enter")
	groups := strings.Split(rk, "-")
	d.typeText(groups[d.f.groups[0]] + groups[d.f.groups[1]])
	d.keys("enter")
	v = d.until(sfDone)
	d.want(v, "bob@example.com is ready")
	if d.f.result.Server != tlsSrv.URL {
		t.Fatalf("result server %q", d.f.result.Server)
	}
	parsed, _ := keys.ParseRecoveryKey(rk)
	if err := keys.VerifyBundle(w.storedBundle(id), id, []byte(flowPass), parsed); err != nil {
		t.Fatal(err)
	}
}

// TestSetupFlowRetryKeepsKey: the admin issues a new code while the user is copying the
// recovery key, so the upload is refused; with the new code typed in, the key already made
// is stored, without a second passphrase or recovery key.
func TestSetupFlowRetryKeepsKey(t *testing.T) {
	w := newFlowWorld(t)
	id, code := w.pending("carol")
	o := w.options(db.PurposeSetup, "carol@example.com")
	o.Code = code
	d := newFlowDriver(t, o)
	d.keys("enter")
	d.until(sfPassphrase)
	d.passphrase(flowPass)
	d.until(sfShowKey)
	rk := d.f.rkText

	newCode := w.code(id, db.PurposeSetup) // voids the code the flow holds
	d.keys("enter")
	groups := strings.Split(rk, "-")
	d.typeText(groups[d.f.groups[0]] + "-" + groups[d.f.groups[1]])
	d.keys("enter")
	d.until(sfUploading)
	v := d.until(sfSignIn)
	d.want(v, "Unknown code: check it, or ask your admin for a new one", "Your key is made and kept")
	if d.f.focus != sfFieldCode || d.f.bundle == nil {
		t.Fatalf("focus %d, bundle kept %v", d.f.focus, d.f.bundle != nil)
	}
	d.keys("ctrl+u")
	d.typeText(newCode)
	d.keys("enter")
	v = d.until(sfDone) // straight through: no passphrase, no recovery key again
	d.want(v, "carol@example.com is ready")
	parsed, _ := keys.ParseRecoveryKey(rk)
	if err := keys.VerifyBundle(w.storedBundle(id), id, []byte(flowPass), parsed); err != nil {
		t.Fatal(err)
	}

	// The spent code says so, in words.
	d2 := newFlowDriver(t, w.options(db.PurposeSetup, "carol@example.com"))
	d2.typeText(newCode)
	d2.keys("enter")
	d2.until(sfChecking)
	d2.want(d2.until(sfSignIn), "Code already used: ask your admin for a new one.")
}

// TestSetupFlowCodeProblems: a mistyped code is caught before the server is asked, a
// recovery code is told apart, and the fifth wrong code ends the code.
func TestSetupFlowCodeProblems(t *testing.T) {
	w := newFlowWorld(t)
	id, code := w.pending("dave")
	d := newFlowDriver(t, w.options(db.PurposeSetup, "dave@example.com"))
	d.typeText("ABC")
	d.keys("enter")
	d.want(d.until(sfSignIn), "That is not a code: a code is 20 letters and digits")
	d.keys("ctrl+u")
	d.typeText(typoOf(code))
	d.keys("enter")
	d.want(d.until(sfSignIn), "The code has a typo")
	// Wrong codes cost the real code nothing (two of them: the flow world's server has
	// the real rate limit, with a burst of 10 requests).
	for range 2 {
		d.keys("ctrl+u")
		d.typeText(otherCode(t, code))
		d.keys("enter")
		d.until(sfChecking)
		d.want(d.until(sfSignIn), "Unknown code: check it, or ask your admin for a new one")
	}
	if got, _ := w.d.SetupCodeOf(context.Background(), id); got.AttemptsLeft != db.SetupCodeAttempts {
		t.Fatalf("wrong codes cost the real code attempts: %+v", got)
	}
	// The right code with a mistyped email: the cursor goes to the email, and the fifth
	// wrong email ends the code.
	for i := db.SetupCodeAttempts - 1; i >= 0; i-- {
		de := newFlowDriver(t, w.options(db.PurposeSetup, "dav@example.com"))
		de.typeText(code)
		de.keys("enter")
		de.until(sfChecking)
		v := de.until(sfSignIn)
		if i > 0 {
			de.want(v, "This code was issued for another email", fmt.Sprintf("(%d attempt", i))
			if de.f.focus != sfFieldEmail {
				t.Fatalf("focus on field %d, want the email", de.f.focus)
			}
		} else {
			de.want(v, "Too many wrong attempts: this code no longer works, ask your admin for a new one.")
		}
	}

	// A ready user's recovery code typed into `scimdesk setup`.
	eid, _ := w.pending("erin")
	ctx := context.Background()
	err := w.d.Write(ctx, func(tx *db.Tx) error {
		u, err := tx.UserByID(ctx, eid)
		if err != nil {
			return err
		}
		return tx.InsertUserKey(ctx, u.Seq, db.UserKey{Alg: keys.AlgX25519, PublicKey: make([]byte, 32), Passphrase: "{}", Recovery: "{}"})
	})
	if err != nil {
		t.Fatal(err)
	}
	rcode := w.code(eid, db.PurposeRecover)
	d = newFlowDriver(t, w.options(db.PurposeSetup, "erin@example.com"))
	d.typeText(rcode)
	d.keys("enter")
	d.until(sfChecking)
	d.want(d.until(sfSignIn), "This is a recovery code: run `scimdesk recover` instead.")
}

// TestRecoverFlow sets a user up, then replaces the passphrase with the recovery key.
func TestRecoverFlow(t *testing.T) {
	w := newFlowWorld(t)
	var out bytes.Buffer
	id2, code2 := w.pending("grace")
	if err := RunSetupScript(context.Background(), ScriptOptions{Server: w.base, Email: "grace@example.com", Code: code2,
		PassphraseFile: "-", RecoveryFile: "-", Params: scimserver.MinKDF(), Stdin: strings.NewReader(flowPass),
		Stdout: &out, Stderr: io.Discard}); err != nil {
		t.Fatal(err)
	}
	rkText := strings.TrimSpace(out.String())

	rcode := w.code(id2, db.PurposeRecover)
	o := w.options(db.PurposeRecover, "grace@example.com")
	o.Code = rcode
	d := newFlowDriver(t, o)
	d.want(d.view(), "scimdesk recover", "Sign in", "Recovery key", "New passphrase")
	d.keys("enter")
	d.want(d.until(sfRecoveryKey), "Type the recovery key")
	// A typo is caught by the checksum; another user's key does not open this one.
	d.typeText(rkText[:len(rkText)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(rkText, "0")])
	d.keys("enter")
	d.want(d.view(), "That key has a typo")
	other, _ := keys.NewRecoveryKey()
	d.keys("ctrl+u")
	d.typeText(other.Text())
	d.keys("enter")
	d.until(sfPassphrase)
	newPass := "velvet cobra harbor 93 tulip"
	d.passphrase(newPass)
	d.want(d.until(sfRecoveryKey), "That recovery key does not open your key")
	d.keys("ctrl+u")
	d.typeText(strings.ToLower(rkText))
	d.keys("enter")
	d.until(sfPassphrase)
	d.passphrase(newPass)
	d.want(d.until(sfDone), "grace@example.com is ready", "recovery key stays the same")

	b := w.storedBundle(id2)
	rk, _ := keys.ParseRecoveryKey(rkText)
	if err := keys.VerifyBundle(b, id2, []byte(newPass), rk); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if _, err := b.UnlockWithPassphrase(id2, []byte(flowPass)); err == nil {
		t.Fatal("the old passphrase still opens the key")
	}
}

func TestReadSecret(t *testing.T) {
	for in, want := range map[string]string{
		"pass\n":     "pass",
		"pass\r\n":   "pass",
		"pass\n\n":   "pass\n",
		" pass ":     " pass ",
		"pass":       "pass",
		"two\nlines": "two\nlines",
	} {
		got, err := readSecret("-", strings.NewReader(in))
		if err != nil || string(got) != want {
			t.Errorf("readSecret(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// otherCode is a well-formed code (its check symbols right) that is not code.
func otherCode(t *testing.T, code string) string {
	t.Helper()
	canon, _ := db.NormalizeSetupCode(code)
	buf := make([]byte, db.SetupCodeLen)
	for {
		rand.Read(buf)
		for i, b := range buf {
			buf[i] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[b&31]
		}
		if c, err := db.NormalizeSetupCode(string(buf)); err == nil && c != canon {
			return db.FormatSetupCode(c)
		}
	}
}

// typoOf is code with one symbol changed so that its check symbols no longer match.
func typoOf(code string) string {
	canon, _ := db.NormalizeSetupCode(code)
	for _, r := range "0123456789ABCDEFGHJKMNPQRSTVWXYZ" {
		typo := string(r) + canon[1:]
		if _, err := db.NormalizeSetupCode(typo); errors.Is(err, db.ErrCodeTypo) {
			return db.FormatSetupCode(typo)
		}
	}
	panic("no typo of " + code + " is caught")
}
