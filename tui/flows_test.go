package tui

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/charmbracelet/x/vt"
)

// Whole-screen flows: the real program (teatest) draws into a terminal emulator (x/vt),
// and the tests read the screen as the admin would see it.

type term struct {
	t   *testing.T
	tm  *teatest.TestModel
	emu *vt.Emulator
	raw bytes.Buffer // everything the program wrote, for escape sequences like OSC 52
}

func startTerm(t *testing.T, a *app, w, h int, opts ...tea.ProgramOption) *term {
	t.Helper()
	tm := teatest.NewTestModel(t, a, teatest.WithInitialTermSize(w, h), teatest.WithProgramOptions(opts...))
	emu := vt.NewEmulator(w, h)
	// The emulator answers the program's queries on its input; read the answers away, or
	// its writes block. (The emulator is not closed: its Close races with a pending Read,
	// and the reader blocked on an idle pipe costs nothing.)
	go io.Copy(io.Discard, emu)
	t.Cleanup(func() {
		tm.Quit()
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	})
	return &term{t: t, tm: tm, emu: emu}
}

// screen feeds what the program wrote since the last look into the emulator and returns
// the screen's text.
func (s *term) screen() string {
	b, _ := io.ReadAll(s.tm.Output())
	if len(b) > 0 {
		s.raw.Write(b)
		// Without a terminal, Bubble Tea counts on the tty driver to turn \n into \r\n
		// (ONLCR); the emulator is no tty, so do it here.
		s.emu.Write(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
	}
	return s.emu.String()
}

// waitScreen waits until the screen shows every text.
func (s *term) waitScreen(texts ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for {
		scr := s.screen()
		ok := true
		for _, want := range texts {
			ok = ok && strings.Contains(scr, want)
		}
		if ok {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen never showed %q; it shows:\n%s", texts, scr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sawRaw reports whether the program wrote seq (an escape sequence such as OSC 52), waiting
// for it as waitScreen does: the program may write it after the frame that announces it.
func (s *term) sawRaw(seq string) bool {
	for deadline := time.Now().Add(8 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s.screen()
		if strings.Contains(s.raw.String(), seq) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func (s *term) keys(keys ...string) {
	for _, k := range keys {
		s.tm.Send(keyMsg(k))
	}
}

func TestFlowCreateTokenSeeItOnce(t *testing.T) {
	d := testDB(t)
	s := startTerm(t, newApp(testDeps(t, d, Options{})), 80, 24)
	s.waitScreen("1 Provisioning", "SCIM URL")
	s.keys("2")
	s.waitScreen("No tokens yet")
	s.keys("n")
	s.waitScreen("New SCIM token", "Description")
	s.tm.Type("okta")
	s.keys("enter")
	scr := s.waitScreen("Copy the secret now")
	secret := secretRe.FindString(scr)
	if secret == "" {
		t.Fatalf("no secret on the screen:\n%s", scr)
	}
	if a, err := d.Authenticate(context.Background(), secret, time.Now()); err != nil || !a.Found {
		t.Fatalf("the secret on screen does not authenticate: %v", err)
	}
	s.keys("c")
	s.waitScreen("Sent the secret to your terminal's clipboard")
	osc52 := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(secret))
	if !s.sawRaw(osc52) {
		t.Error("c did not send the secret to the clipboard with OSC 52")
	}
	s.keys("esc")
	scr = s.waitScreen("● active", "okta")
	if strings.Contains(scr, secret) {
		t.Fatal("the secret is still on screen after esc")
	}
	s.keys("1", "2")
	scr = s.waitScreen("okta")
	if strings.Contains(scr, "scim_") && strings.Contains(scr, secret[:20]) {
		t.Fatal("the secret came back")
	}
}

func TestFlowToggleSCIM(t *testing.T) {
	d := testDB(t)
	srv := startServer(t, d)
	s := startTerm(t, newApp(testDeps(t, d, Options{Server: srv})), 80, 24)
	s.waitScreen("SCIM ○ off", "○ disabled", srv.SCIMURL())
	s.keys("e")
	s.waitScreen("SCIM ● on", "● enabled", "SCIM provisioning is enabled")
	s.keys("e")
	s.waitScreen("Disable SCIM provisioning?")
	s.keys("y")
	s.waitScreen("SCIM ○ off", "○ disabled")
	if on, _ := d.SCIMEnabled(context.Background()); on {
		t.Fatal("SCIM is still on in the database")
	}
}

func TestFlowSCIMRequestShowsInActivityAndUsers(t *testing.T) {
	d := testDB(t)
	ctx := context.Background()
	srv := startServer(t, d)
	if err := d.SetSCIMEnabled(ctx, true, "test"); err != nil {
		t.Fatal(err)
	}
	_, secret, err := d.CreateToken(ctx, "okta", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	s := startTerm(t, newApp(testDeps(t, d, Options{Server: srv})), 100, 30)
	s.keys("5")
	s.waitScreen("Audit log", "token.create")

	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ann@example.com",
		"name":{"givenName":"Ann","familyName":"Example"},"emails":[{"value":"ann@example.com","primary":true}],"active":true}`
	req, _ := http.NewRequest("POST", srv.SCIMURL()+"/Users", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("User-Agent", "Okta SCIM Client 1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /Users: %s", resp.Status)
	}
	start := time.Now()
	s.waitScreen("user.create", "ann@example.com", "Okta")
	if d := time.Since(start); d > time.Second {
		t.Errorf("the event took %s to show, want under a second", d)
	}
	s.keys("3")
	s.waitScreen("1 user", "ann@example.com", "Ann Example", "○ pending")
	s.keys("1")
	s.waitScreen("1 served", "from Okta")
}

// TestFlowRotateExpiringToken: tab 1 warns that the token expires soon; the admin goes to
// tab 2, rotates it with r and enter, copies the new secret from the same screen as a new
// token's, and back on tab 1 the warning names the replacement, not the old token.
func TestFlowRotateExpiringToken(t *testing.T) {
	d := testDB(t)
	old, _, err := d.CreateToken(context.Background(), "okta", 10*24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	s := startTerm(t, newApp(testDeps(t, d, Options{})), 100, 30)
	s.waitScreen("1 Provisioning", "▲ token “okta” ("+old.ID+"): 10 days left", "rotate it in tab 2 (r)")
	s.keys("2")
	s.waitScreen("1 token", "▲ expiring")
	s.keys("r")
	s.waitScreen("Rotate token “okta”", "[24 hours]", "enter rotate")
	s.keys("enter")
	scr := s.waitScreen("Copy the secret now", "Replaces "+old.ID)
	secret := secretRe.FindString(scr)
	if secret == "" {
		t.Fatalf("no secret on the screen:\n%s", scr)
	}
	a, err := d.Authenticate(context.Background(), secret, time.Now())
	if err != nil || !a.Found || a.TokenID == old.ID {
		t.Fatalf("the secret on screen does not authenticate as the new token: %+v %v", a, err)
	}
	s.keys("c")
	s.waitScreen("Sent the secret to your terminal's clipboard")
	if !s.sawRaw("\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(secret))) {
		t.Error("c did not send the new secret to the clipboard with OSC 52")
	}
	s.keys("esc")
	scr = s.waitScreen("2 tokens", "↻ rotated")
	if strings.Contains(scr, secret) {
		t.Fatal("the secret is still on screen after esc")
	}
	s.keys("1")
	scr = s.waitScreen("(" + a.TokenID + "): 10 days left")
	if strings.Contains(scr, old.ID) {
		t.Errorf("tab 1 still warns about the rotated token:\n%s", scr)
	}
}
