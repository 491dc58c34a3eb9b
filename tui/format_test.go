package tui

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"scimdesk/db"
)

func TestIdpOf(t *testing.T) {
	for agent, want := range map[string]string{
		"Okta SCIM Client 1.0.0":              "Okta",
		"Okta-Provisioning/2024.10":           "Okta",
		"Microsoft.Identity-Provisioning/1.0": "Entra",
		"Azure AD SCIM Provisioning":          "Entra",
		"admin:alice":                         "admin",
		"local:alice":                         "admin",
		"cli:alice":                           "admin",
		"ssh:alice@laptop SHA256:AAAA":        "admin",
		"curl/8.5.0":                          "curl",
		"":                                    "—",
	} {
		if got := idpOf(agent); got != want {
			t.Errorf("idpOf(%q) = %q, want %q", agent, got, want)
		}
	}
}

func TestExplainSaysWhatToDo(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: busy", db.ErrBusy), "retry shortly"},
		{fmt.Errorf("write: %w", syscall.ENOSPC), "disk full"},
		{errors.New("database or disk is full (13)"), "disk full"},
		{errors.New("attempt to write a readonly database (8)"), "read-only"},
		{errors.New("something else"), "something else"},
	} {
		if got := explain("Saving", c.err); !strings.HasPrefix(got, "Saving: ") || !strings.Contains(got, c.want) {
			t.Errorf("explain(%v) = %q, want it to say %q", c.err, got, c.want)
		}
	}
}

func TestCleanStopsTerminalInjection(t *testing.T) {
	if got := clean("evil\x1b]52;c;AAAA\x07\x1b[2J\r\nname"); strings.ContainsAny(got, "\x1b\x07\r\n") {
		t.Errorf("clean left control characters: %q", got)
	}
	if got := clean("Zoë Ærø 名前"); got != "Zoë Ærø 名前" {
		t.Errorf("clean changed printable text: %q", got)
	}
}

func TestCommasAndTimes(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{5 * time.Second: "5s ago", 3 * time.Minute: "3m ago", 5 * time.Hour: "5h ago", 72 * time.Hour: "3d ago"} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(%s) = %q, want %q", d, got, want)
		}
	}
	if got := until(now, now.Add(89*24*time.Hour+time.Hour)); got != "in 90d" {
		t.Errorf("until = %q", got)
	}
}

func TestColWidthsShareAndShrink(t *testing.T) {
	cols := []column{{Min: 10}, {Min: 10, Flex: 2}, {Min: 10, Flex: 1}}
	if got := colWidths(cols, 80); got[0] != 10 || got[0]+got[1]+got[2] != 80-gutter-2 || got[1] <= got[2] {
		t.Errorf("colWidths(80) = %v", got)
	}
	got := colWidths(cols, 24)
	if sum := got[0] + got[1] + got[2] + 2 + gutter; sum > 24 {
		t.Errorf("colWidths(24) = %v overflows", got)
	}
}

func TestTableMarksTheCursorAndFits(t *testing.T) {
	st := newStyles(true)
	cols := []column{{Title: "A", Min: 4}, {Title: "B", Min: 4, Flex: 1}}
	out := table(st, cols, 20, 4, 10, 2, 3, func(i int) ([]cell, bool) {
		if i == 4 {
			return nil, false // not in memory yet
		}
		return []cell{{Text: fmt.Sprint(i)}, {Text: strings.Repeat("x", 50)}}, true
	})
	lines := strings.Split(ansi.Strip(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), ansi.Strip(out))
	}
	if !strings.HasPrefix(lines[2], "› 3") || !strings.HasPrefix(lines[1], "  2") || strings.TrimSpace(lines[3]) != "…" {
		t.Errorf("rows:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if ansi.StringWidth(l) > 20 {
			t.Errorf("line wider than the table: %q", l)
		}
	}
}

func TestWindowAsksForPagesAroundTheCursor(t *testing.T) {
	w := newWindow[int]()
	w.setHeight(20)
	rows := make([]int, pageSize)
	w.apply(0, rows, 100_000)
	if _, ok := w.want(); ok {
		t.Fatal("asks for a page while the first one covers the view")
	}
	w.moveTo(pageSize - margin)
	off, ok := w.want()
	if !ok || off != w.cursor-pageSize/2 {
		t.Fatalf("near the edge: want() = %d, %v", off, ok)
	}
	if _, again := w.want(); again {
		t.Fatal("asks twice for the page on its way")
	}
	w.moveTo(99_999)
	if off, ok := w.want(); !ok || off != 100_000-pageSize {
		t.Fatalf("at the end: want() = %d, %v", off, ok)
	}
	w.apply(100_000-pageSize, rows, 100_000)
	if _, ok := w.selected(); !ok {
		t.Fatal("the last row is not in memory after its page came")
	}
	w.apply(0, rows[:10], 10) // the list shrank
	if w.cursor != 9 || w.top != 0 {
		t.Fatalf("after shrinking: cursor %d top %d", w.cursor, w.top)
	}
}

func TestFitMiddle(t *testing.T) {
	for _, c := range []struct {
		s    string
		w    int
		want string
	}{
		{"web-1", 8, "web-1   "},
		{"scimdesk-7d9f8b6c5-x2k4p", 12, "scimde…x2k4p"},
		{"[2001:db8::17]:8443", 13, "[2001:…]:8443"},
		{"web-2.prod.example.internal", 16, "web-2.pr…nternal"},
		{"日本語のホスト名", 9, "日本…ト名"},
	} {
		got := fitMiddle(c.s, c.w)
		if got != c.want || ansi.StringWidth(got) != c.w {
			t.Errorf("fitMiddle(%q, %d) = %q, want %q", c.s, c.w, got, c.want)
		}
	}
}
