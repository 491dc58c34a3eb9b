package tui

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"scimdesk/db"
	"scimdesk/scimserver"
)

// testDB opens a real database in a temporary directory. Its write budget is far above
// the default: the tests seed rows in large writes, which a starved CPU under the race
// detector can take past 500 ms, and what they test is the screen, not the budget.
func testDB(t testing.TB) *db.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "scimdesk.db"), db.WithWriteBudget(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// testDeps builds the tabs' dependencies over d, as Run does, with a context that ends
// with the test.
func testDeps(t testing.TB, d *db.DB, o Options) *deps {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	o.DB = d
	if o.Actor == "" {
		o.Actor = "admin:test"
	}
	dp := newDeps(ctx, o)
	dp.tmux = "" // the tests' own terminal must not decide what a copy reports
	return dp
}

// startServer runs the real SCIM server over d on a free port until the test ends.
func startServer(t testing.TB, d *db.DB) *scimserver.Server {
	t.Helper()
	srv := scimserver.New(d, scimserver.Config{Addr: "127.0.0.1:0", HeartbeatEvery: 200 * time.Millisecond})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv
}

// seedUsers inserts n users (user00000@example.com ...) in one transaction; every
// deactivatedEvery-th one is deactivated (0: none).
func seedUsers(t testing.TB, d *db.DB, n, deactivatedEvery int) {
	t.Helper()
	step := seedBatch(500) // each write well within the write budget
	for start := 0; start < n; start += step {
		seedRange(t, d, start, min(start+step, n), deactivatedEvery)
	}
}

func seedRange(t testing.TB, d *db.DB, from, to, deactivatedEvery int) {
	t.Helper()
	ctx := context.Background()
	err := d.Write(ctx, func(tx *db.Tx) error {
		for i := from; i < to; i++ {
			name := fmt.Sprintf("user%05d@example.com", i)
			u := &db.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), UserName: name, Email: name,
				GivenName: "User", FamilyName: fmt.Sprintf("N%05d", i), Active: deactivatedEvery == 0 || i%deactivatedEvery != 0,
				Doc: []byte(`{"userName":"` + name + `"}`)}
			if err := tx.InsertUser(ctx, u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// driver is a small Bubble Tea runtime for tests: it runs Cmds in goroutines and feeds
// their messages back through update, as the real program does, so that a model is
// tested with its real I/O against a real database.
type driver struct {
	t         testing.TB
	update    func(tea.Msg) tea.Cmd
	view      func() string
	msgs      chan tea.Msg
	clipboard string
	statuses  []statusMsg
	quit      bool
}

func newDriver(t testing.TB, update func(tea.Msg) tea.Cmd, view func() string) *driver {
	return &driver{t: t, update: update, view: view, msgs: make(chan tea.Msg, 4096)}
}

// drive wraps the root model.
func driveApp(t testing.TB, a *app, w, h int) *driver {
	dr := newDriver(t, func(m tea.Msg) tea.Cmd { _, c := a.Update(m); return c }, func() string { return a.View().Content })
	dr.send(tea.WindowSizeMsg{Width: w, Height: h})
	dr.do(a.Init())
	return dr
}

// driveTab wraps one tab, sized w x h.
func driveTab(t testing.TB, tb tab, w, h int) *driver {
	tb.SetSize(w, h)
	dr := newDriver(t, tb.Update, tb.View)
	dr.do(tb.Init())
	return dr
}

// do runs cmd in the background; its message comes back through wait.
func (dr *driver) do(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		if m := cmd(); m != nil {
			select {
			case dr.msgs <- m:
			default: // the test has stopped listening
			}
		}
	}()
}

// send delivers a message now, as the program would.
func (dr *driver) send(m tea.Msg) {
	switch m := m.(type) {
	case nil:
		return
	case tea.BatchMsg:
		for _, c := range m {
			dr.do(c)
		}
		return
	case tea.QuitMsg:
		dr.quit = true
		return
	case statusMsg:
		dr.statuses = append(dr.statuses, m)
	}
	if fmt.Sprintf("%T", m) == "tea.setClipboardMsg" {
		dr.clipboard = reflect.ValueOf(m).String()
		return
	}
	dr.do(dr.update(m))
}

// key types one key: "enter", "esc", "tab", "shift+tab", "up", "down", "left", "right",
// "pgdown", "end", "backspace", "space", "ctrl+c", or a single character.
func (dr *driver) key(keys ...string) {
	for _, k := range keys {
		dr.send(keyMsg(k))
	}
}

// typeText types each character of s.
func (dr *driver) typeText(s string) {
	for _, r := range s {
		dr.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func keyMsg(k string) tea.KeyPressMsg {
	named := map[string]tea.KeyPressMsg{
		"enter": {Code: tea.KeyEnter}, "esc": {Code: tea.KeyEscape}, "tab": {Code: tea.KeyTab},
		"shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift}, "up": {Code: tea.KeyUp}, "down": {Code: tea.KeyDown},
		"left": {Code: tea.KeyLeft}, "right": {Code: tea.KeyRight}, "pgdown": {Code: tea.KeyPgDown},
		"pgup": {Code: tea.KeyPgUp}, "end": {Code: tea.KeyEnd}, "home": {Code: tea.KeyHome},
		"backspace": {Code: tea.KeyBackspace}, "space": {Code: tea.KeySpace, Text: " "},
		"ctrl+c": {Code: 'c', Mod: tea.ModCtrl},
	}
	if m, ok := named[k]; ok {
		return m
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// waitFor handles messages until the view satisfies cond, or fails after a few seconds.
func (dr *driver) waitFor(what string, cond func(view string) bool) string {
	dr.t.Helper()
	deadline := time.After(8 * time.Second)
	for {
		v := dr.view()
		if cond(v) {
			return v
		}
		select {
		case m := <-dr.msgs:
			dr.send(m)
		case <-deadline:
			dr.t.Fatalf("timed out waiting for %s; the view is:\n%s", what, plain(v))
		}
	}
}

// waitText waits until the view contains every one of texts.
func (dr *driver) waitText(texts ...string) string {
	dr.t.Helper()
	return dr.waitFor(fmt.Sprintf("%q", texts), func(v string) bool {
		v = plain(v)
		for _, s := range texts {
			if !strings.Contains(v, s) {
				return false
			}
		}
		return true
	})
}

// settle handles the messages that arrive within d.
func (dr *driver) settle(d time.Duration) {
	deadline := time.After(d)
	for {
		select {
		case m := <-dr.msgs:
			dr.send(m)
		case <-deadline:
			return
		}
	}
}

// waitUntil handles messages until cond holds, or fails after a few seconds.
func (dr *driver) waitUntil(what string, cond func() bool) {
	dr.t.Helper()
	dr.waitFor(what, func(string) bool { return cond() })
}

// waitClipboard waits until the model copied want.
func (dr *driver) waitClipboard(want string) {
	dr.t.Helper()
	dr.waitUntil("the clipboard to hold "+want, func() bool { return dr.clipboard == want })
}

// waitStatus waits for a status line containing text.
func (dr *driver) waitStatus(text string) {
	dr.t.Helper()
	dr.waitUntil("a status line with "+text, func() bool { return strings.Contains(dr.lastStatus(), text) })
}

// waitQuit waits for the model to quit.
func (dr *driver) waitQuit() {
	dr.t.Helper()
	dr.waitUntil("quit", func() bool { return dr.quit })
}

// lastStatus is the text of the last status line reported.
func (dr *driver) lastStatus() string {
	if len(dr.statuses) == 0 {
		return ""
	}
	return dr.statuses[len(dr.statuses)-1].Text
}

// plain strips styling from a view.
func plain(s string) string { return ansi.Strip(s) }

// giveKey stores a master key for the user with id, as `scimdesk setup` does: the user is
// ready from then on.
func giveKey(t testing.TB, d *db.DB, id string) {
	t.Helper()
	ctx := context.Background()
	err := d.Write(ctx, func(tx *db.Tx) error {
		u, err := tx.UserByID(ctx, id)
		if err != nil {
			return err
		}
		return tx.InsertUserKey(ctx, u.Seq, db.UserKey{Alg: "x25519", PublicKey: make([]byte, 32), Passphrase: "{}", Recovery: "{}"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// liveFeed starts the console's own live feed over dp and lets it see every message
// before the tab, as the app does: the tab then follows the database through the real
// polls (every second, and at once on the nudges of a server in this process), not through
// messages a test makes up.
func (dr *driver) liveFeed(dp *deps) {
	f := newFeed(dp)
	tabUpdate := dr.update
	dr.update = func(m tea.Msg) tea.Cmd { return tea.Batch(f.update(m), tabUpdate(m)) }
	dr.do(f.init())
}

// serveSCIM switches SCIM on over d, makes a token and runs the real server; post sends
// a SCIM create through it, as an identity provider would.
func serveSCIM(t testing.TB, d *db.DB) (srv *scimserver.Server, post func(path, body string)) {
	t.Helper()
	ctx := context.Background()
	if err := d.SetSCIMEnabled(ctx, true, "test"); err != nil {
		t.Fatal(err)
	}
	_, secret, err := d.CreateToken(ctx, "okta", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv = startServer(t, d)
	return srv, func(path, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.SCIMURL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %s", path, res.Status)
		}
	}
}

// seedBatch is how many rows a test seeds in one write: n, or a tenth of it under the race
// detector, so that each write stays within the write budget.
func seedBatch(n int) int {
	if raceDetector {
		return max(1, n/10)
	}
	return n
}
