package tui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/x/ansi"

	"scimdesk/db"
	"scimdesk/termsafe"
)

// ago is a short relative time: "12s ago", "5m ago", a date when older than a month.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	case d < 30*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
	return day(t)
}

// until is a short time left: "in 89d", "in 5h".
func until(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "expired"
	case d < time.Hour:
		return fmt.Sprintf("in %dm", int(d.Minutes())+1)
	case d < 48*time.Hour:
		return fmt.Sprintf("in %dh", int((d+time.Hour-1)/time.Hour))
	}
	// A part of a day counts, as in db.Token.DaysLeft: a 10-day token shows "in 10d".
	return fmt.Sprintf("in %dd", int((d+24*time.Hour-1)/(24*time.Hour)))
}

// day is a local date.
func day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02")
}

// stamp is a local date and time to the second, for detail views.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// clock is an event's time: the time of day for today, else the date too.
func clock(now, t time.Time) string {
	lt, ln := t.Local(), now.Local()
	if lt.YearDay() == ln.YearDay() && lt.Year() == ln.Year() {
		return lt.Format("15:04:05")
	}
	return lt.Format("Jan 02 15:04")
}

// commas writes a count with thousands separators.
func commas(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// plural is "1 user", "2 users".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return commas(n) + " " + many
}

// idpOf names the client behind a User-Agent, as the admin knows it: Okta, Entra, the
// admin (for console and CLI actions), or the agent's product name.
func idpOf(agent string) string {
	a := strings.ToLower(agent)
	switch {
	case agent == "":
		return "—"
	case isAdminActor(agent):
		return "admin"
	case strings.Contains(a, "okta"):
		return "Okta"
	case strings.Contains(a, "azure"), strings.Contains(a, "microsoft"), strings.Contains(a, "entra"), strings.Contains(a, "aad"):
		return "Entra"
	}
	name, _, _ := strings.Cut(agent, " ")
	name, _, _ = strings.Cut(name, "/")
	return name
}

// adminWhere says where an admin action was taken, from its actor's prefix.
func adminWhere(agent string) string {
	switch {
	case strings.HasPrefix(agent, "ssh:"):
		return "admin, console over SSH"
	case strings.HasPrefix(agent, "local:"):
		return "admin, console in a local terminal"
	case strings.HasPrefix(agent, "cli:"):
		return "admin, command line"
	}
	return "admin"
}

// adminActors begin the agent of an admin action: a console in a terminal, one over SSH,
// an admin command, or (in events recorded before they were told apart) any admin.
var adminActors = []string{"local:", "ssh:", "cli:", "admin:"}

func isAdminActor(agent string) bool {
	for _, p := range adminActors {
		if strings.HasPrefix(agent, p) {
			return true
		}
	}
	return false
}

// explain turns an error into a status line that says what failed and what to do.
func explain(what string, err error) string {
	msg := err.Error()
	low := strings.ToLower(msg)
	switch {
	case errors.Is(err, db.ErrBusy):
		return what + ": database locked by another program; retry shortly, or stop that program."
	case errors.Is(err, syscall.ENOSPC), strings.Contains(low, "disk is full"), strings.Contains(low, "no space left"):
		return what + ": disk full; free space on the database's disk, then retry."
	case strings.Contains(low, "readonly database"), strings.Contains(low, "read-only"):
		return what + ": database file is read-only; check its and its folder's permissions."
	case errors.Is(err, db.ErrNotFound):
		return what + ": it no longer exists (removed elsewhere)."
	}
	return what + ": " + msg
}

// fit makes s exactly w cells wide: cut with an ellipsis, or padded with spaces.
func fit(s string, w int, right bool) string {
	if w <= 0 {
		return ""
	}
	s = ansi.Truncate(s, w, "…")
	pad := w - ansi.StringWidth(s)
	if pad <= 0 {
		return s
	}
	if right {
		return strings.Repeat(" ", pad) + s
	}
	return s + strings.Repeat(" ", pad)
}

// clean makes text from the network safe to print: no control characters or escapes that
// could move the cursor or restyle the console. The command line shares the rule.
func clean(s string) string { return termsafe.Clean(s) }

// block makes s exactly h lines of at most w cells, so that no view can push the status
// line off the screen or wrap into the next line, whatever the data.
func block(s string, w, h int) string {
	if h <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > w {
			lines[i] = ansi.Truncate(l, w, "")
		}
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// clip wraps text to width, breaking words longer than the width, into at most n lines;
// longer text ends with an ellipsis on the last line. Values from the identity provider
// go through it wherever they could otherwise fill the screen (a megabyte displayName).
func clip(text string, width, n int) []string {
	width, n = max(1, width), max(1, n)
	// Wrapping a megabyte to keep three lines is waste: keep what n lines can hold
	// (twice over, as word wrapping leaves lines short), and remember the cut.
	cut := false
	if limit := 2 * width * n; ansi.StringWidth(text) > limit {
		text, cut = ansi.Truncate(text, limit, ""), true
	}
	lines := strings.Split(ansi.Wrap(text, width, ""), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	if len(lines) > n {
		lines, cut = lines[:n], true
	}
	if cut {
		last := lines[n-1]
		if ansi.StringWidth(last) >= width {
			last = ansi.Truncate(last, width-1, "")
		}
		lines[n-1] = last + "…"
	}
	return lines
}

// hangClip is hang for values that may be huge: at most n lines, the last with an
// ellipsis if the value goes on.
func hangClip(prefix, text string, width, n int) []string {
	pw := ansi.StringWidth(prefix)
	lines := clip(text, max(10, width-pw), n)
	pad := strings.Repeat(" ", pw)
	for i := range lines {
		if i == 0 {
			lines[i] = prefix + lines[i]
		} else {
			lines[i] = pad + lines[i]
		}
	}
	return lines
}

// uptime is a short duration a server has run: "45s", "12m", "3h05m", "2d04h".
func uptime(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours()/24), int(d.Hours())%24)
}

// fitMiddle makes plain text s exactly w cells wide: cut in the middle with an ellipsis,
// keeping its start and end, or padded with spaces.
func fitMiddle(s string, w int) string {
	if ansi.StringWidth(s) <= w || w < 3 {
		return fit(s, w, false)
	}
	tail := (w - 1) / 2
	head := w - 1 - tail
	r := []rune(s)
	// Cut by cells: the head from the start, the tail from the end.
	h := ansi.Truncate(s, head, "")
	t := ""
	for i := len(r) - 1; i >= 0 && ansi.StringWidth(string(r[i:])) <= tail; i-- {
		t = string(r[i:])
	}
	return fit(h+"…"+t, w, false)
}
