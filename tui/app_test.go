package tui

import (
	"bytes"
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
	dr.waitText("All keys — Users", "jump to tab", "status filter")
	dr.key("x")
	if a.showHelp {
		t.Fatal("a key does not close the help")
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
	dr.waitText("SCIM URL")
	for _, size := range [][2]int{{80, 24}, {100, 30}, {60, 16}, {40, 12}, {200, 60}, {20, 5}} {
		dr.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for i := range a.tabs {
			dr.key(string(rune('1' + i)))
			dr.settle(30e6)
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
// symbols, and the selected row must still be marked.
func TestAppReadsWithoutColour(t *testing.T) {
	d := testDB(t)
	seedUsers(t, d, 5, 2)
	a := newApp(testDeps(t, d, Options{}))
	dr := driveApp(t, a, 100, 24)
	dr.key("3")
	dr.waitText("row 1 of 5")
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
	for _, want := range []string{"○ pending", "✗ deactivated", "› ", "━"} {
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
