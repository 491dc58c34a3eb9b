package tui

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
)

func TestAppRoutesKeysToTheShownTabOnly(t *testing.T) {
	d := testDB(t)
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 80, 24)
	dr.waitText("SCIM URL")

	dr.key("3")
	dr.waitText("No users yet")
	dr.key("n") // the Tokens tab's "new token" key, pressed on the Users tab
	if a.tabs[1].(*tokens).formOpen {
		t.Fatal("a key reached a hidden tab")
	}
	dr.key("tab")
	dr.waitText("No groups yet")
	dr.key("tab", "tab") // past the last tab, back to the first
	dr.waitText("SCIM URL")
	dr.key("shift+tab")
	dr.waitText("Audit log")

	// While the filter has the keys, q and 1-5 are text.
	dr.key("3", "/")
	dr.typeText("q1")
	dr.settle(100 * time.Millisecond)
	if dr.quit || a.active != 2 {
		t.Fatal("q or 1 acted globally while typing a filter")
	}
	dr.key("esc")

	dr.key("?")
	dr.waitText("All keys — Users", "tab Provisioning", "status filter")
	dr.key("esc")
	if a.menu.open {
		t.Fatal("esc does not close the help")
	}
	dr.key("q")
	dr.waitQuit()
}

func TestAppCtrlCQuitsFromAForm(t *testing.T) {
	d := testDB(t)
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 80, 24)
	dr.key("2", "n", "q")
	dr.settle(100 * time.Millisecond)
	if dr.quit {
		t.Fatal("q quit from inside the token form")
	}
	dr.key("ctrl+c")
	dr.waitQuit()
}

// Every screen is exactly the window: no line wider, no line more, at any size.
func TestAppViewFitsTheWindow(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 50, 7)
	seedGroup(t, d, "A group with a name far longer than any column could ever show in full", 20)
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 80, 24)
	// Every tab with its data first: what is measured below is each tab with its rows, not
	// a tab still loading. (A size change reads nothing: the rows stay.)
	for i, loaded := range []string{"SCIM URL", "No tokens yet", "row 1 of 50", "1 group", "no events yet"} {
		dr.key(string(rune('1' + i)))
		dr.waitText(loaded)
	}
	for _, size := range [][2]int{{80, 24}, {100, 30}, {60, 16}, {40, 12}, {200, 60}, {20, 5}} {
		dr.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for i := range a.tabs {
			dr.key(string(rune('1' + i)))
			dr.waitUntil(fmt.Sprintf("tab %d shown", i+1), func() bool { return a.active == i })
			lines := strings.Split(dr.view(), "\n")
			if len(lines) != size[1] {
				t.Errorf("%dx%d tab %d: %d lines", size[0], size[1], i+1, len(lines))
			}
			for n, l := range lines {
				if w := ansi.StringWidth(l); w > size[0] {
					t.Errorf("%dx%d tab %d line %d is %d wide: %q", size[0], size[1], i+1, n, w, ansi.Strip(l))
				}
			}
		}
	}
}

// Under NO_COLOR the renderer drops every colour; states must still read in words and
// symbols, and the selected row must still be marked. The users are in every state, each
// on its own row: a ready user (one with a master key) must not be drawn as pending.
func TestAppReadsWithoutColour(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 5, 2) // 0, 2, 4 deactivated; 1 and 3 pending
	giveKey(t, d, "00000000-0000-4000-8000-000000000003")
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 100, 24)
	dr.key("3")
	v := plain(dr.waitText("row 1 of 5"))
	rowStatus := map[string]string{"user00003": "● ready", "user00001": "○ pending", "user00000": "✗ deactivated"}
	for _, l := range strings.Split(v, "\n") {
		for name, status := range rowStatus {
			if strings.Contains(l, name) && !strings.Contains(l, status) {
				t.Errorf("the row of %s does not read %q: %q", name, status, l)
			}
		}
	}
	if !strings.Contains(v, "○ 1 pending") || !strings.Contains(v, "● 1 ready") || !strings.Contains(v, "3 deactivated") {
		t.Errorf("the counts are not 1 pending, 1 ready, 3 deactivated:\n%s", v)
	}
	dr.key("down") // user00003, the ready one
	dr.key("enter")
	dr.waitText("user00003@example.com", "ready: active, has set up a master key")
	dr.key("esc")
	dr.waitText("row 2 of 5")
	var out bytes.Buffer
	w := &colorprofile.Writer{Forward: &out, Profile: colorprofile.Env([]string{"NO_COLOR=1", "TERM=xterm-256color"})}
	if _, err := w.WriteString(dr.view()); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if w.Profile != colorprofile.Ascii {
		t.Fatalf("NO_COLOR gives profile %v", w.Profile)
	}
	if sgrColour.MatchString(s) {
		t.Errorf("colour survived NO_COLOR: %q", sgrColour.FindString(s))
	}
	plainText := ansi.Strip(s)
	for _, want := range []string{"● ready", "○ pending", "✗ deactivated", "› ", "━"} {
		if !strings.Contains(plainText, want) {
			t.Errorf("without colour the screen lacks %q", want)
		}
	}
}

func TestAppLightBackground(t *testing.T) {
	d := testDB(t)
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 80, 24)
	dr.send(tea.BackgroundColorMsg{Color: colorWhite{}})
	if a.d.styles.Dark {
		t.Fatal("a white background did not switch to light styles")
	}
	dr.waitText("SCIM URL")
}

// sgrColour finds an SGR sequence that sets a foreground or background colour.
var sgrColour = regexp.MustCompile(`\x1b\[(?:[0-9:]*;)*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:[;:][0-9:;]*)?m`)

type colorWhite struct{}

func (colorWhite) RGBA() (r, g, b, a uint32) { return 0xffff, 0xffff, 0xffff, 0xffff }

// With the SCIM server in this process, q stops it: it asks first. ctrl+c does not.
func TestAppQuitAsksWhileServingHere(t *testing.T) {
	d := testDB(t)
	srv := startServer(t, d)
	a := newApp(testDeps(t, d, Options{Server: srv}))
	dr := driveApp(t, a, 80, 24)
	dr.waitText("SCIM URL")

	dr.key("?")
	dr.waitText("quit (asks first)", "ctrl+c", "quit at once")
	dr.key("x")

	dr.key("3", "q")
	v := dr.waitText("Quit?", "This stops the SCIM server on "+srv.Addr()+": Okta and", "cannot reach it until you start scimdesk",
		"again.", "y yes", "n/esc no")
	if dr.quit {
		t.Fatal("q quit at once although the server runs in this process")
	}
	// The question is drawn like every other: a box that fits the screen.
	checkFits(t, v, 80, 24)
	if !strings.Contains(plain(v), "╭") || !strings.Contains(plain(v), "╯") {
		t.Errorf("the question is not in a dialog box:\n%s", plain(v))
	}
	dr.key("3") // any key but y says no, and does not act (no tab switch, no typing)
	dr.waitStatus("Still running")
	if dr.quit || a.quit.open {
		t.Fatal("a key other than y quit, or left the question open")
	}
	dr.key("n")
	if a.active != 2 {
		t.Fatal("the key that answered the question also acted on the tab")
	}

	dr.key("q", "y")
	dr.waitQuit()

	// ctrl+c quits at once, question or not.
	a2 := newApp(testDeps(t, d, Options{Server: srv}))
	dr2 := driveApp(t, a2, 80, 24)
	dr2.key("ctrl+c")
	dr2.waitQuit()
}

// Attached to another process's server, or with none, q quits at once as before.
func TestAppQuitAtOnceWithoutServerHere(t *testing.T) {
	d := testDB(t)
	for _, o := range []Options{{AttachedPID: 4242}, {}} {
		a := newApp(testDeps(t, d, o))
		dr := driveApp(t, a, 80, 24)
		dr.waitText("SCIM URL")
		dr.key("q")
		dr.waitQuit()
		if a.quit.open {
			t.Errorf("%+v: q asked although no server runs in this process", o)
		}
	}
}

// A passing note ("Cancelled", "Secret hidden") does not follow the admin into the next
// dialog, form or tab; an error stays.
func TestAppClearsTransientStatus(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 2, 0)
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 80, 24)
	dbLine := "db " + d.Path()
	shows := func(what, want string) {
		t.Helper()
		lines := strings.Split(plain(dr.view()), "\n")
		if got := lines[len(lines)-2]; !strings.Contains(got, want) {
			t.Errorf("%s: the status line is %q, want %q", what, got, want)
		}
	}

	// A cancelled question, then the next question.
	dr.key("3")
	dr.waitText("row 1 of 2")
	dr.key("i", "n")
	dr.waitStatus("Cancelled: nothing was changed.")
	shows("after cancelling", "Cancelled")
	dr.key("i")
	dr.waitText("Issue a setup code")
	shows("the next question", dbLine)
	dr.key("n")
	dr.waitStatus("Cancelled")

	// The setup code's "hidden for good" stays on its tab.
	dr.key("i", "y")
	dr.waitText("Setup code for user00001@example.com")
	dr.key("esc")
	dr.waitStatus("Setup code hidden for good")
	shows("after hiding the code", "hidden for good")
	dr.key("4")
	dr.waitText("Groups")
	shows("on another tab", dbLine)

	// A cancelled form, then the form again; the secret's note, then another tab.
	dr.key("2", "n", "esc")
	dr.waitStatus("No token created.")
	dr.key("n")
	dr.waitText("New SCIM token")
	shows("the form opened again", dbLine)
	dr.typeText("okta")
	dr.key("enter")
	dr.waitText("Copy the secret now")
	dr.key("esc")
	dr.waitStatus("Secret hidden for good")
	shows("after hiding the secret", "Secret hidden")
	dr.key("3")
	shows("on another tab", dbLine)

	// Errors stay until the next action replaces them.
	dr.send(statusMsg{Level: levelErr, Text: "Reading users: disk full"})
	dr.key("4")
	shows("an error after a tab switch", "disk full")
	dr.key("3", "i")
	dr.waitText("Issue a setup code")
	shows("an error when a question opens", "disk full")
}

// checkFits fails unless view is exactly w x h cells.
func checkFits(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("%d lines, want %d", len(lines), h)
	}
	for n, l := range lines {
		if lw := ansi.StringWidth(l); lw > w {
			t.Errorf("line %d is %d wide: %q", n, lw, ansi.Strip(l))
		}
	}
}

// Over SSH, "in this process" would mean nothing to the admin: tab 1 says the server is
// the one the SSH console belongs to, and a local console still says "in this process".
func TestServerLineOverSSH(t *testing.T) {
	d := testDB(t)
	srv := startServer(t, d)
	for _, c := range []struct {
		remote bool
		want   string
	}{{true, "in the service you reached over SSH"}, {false, "in this process"}} {
		dp := testDeps(t, d, Options{Server: srv, Remote: c.remote})
		if got := serverState(dp, nil, time.Now()).summary; !strings.HasSuffix(got, c.want) {
			t.Errorf("remote %v: %q, want it to end %q", c.remote, got, c.want)
		}
	}
}
