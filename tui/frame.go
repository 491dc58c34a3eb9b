package tui

import (
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"scimdesk/db"
)

// The frame around the tabs: the tab bar on top, the status line and the keys below.

// tabBar is the name, the tabs with the shown one marked (in reverse video, and
// underlined with heavy rule in the line below, which survives NO_COLOR and plain-text
// captures), and the SCIM badge. Below 80 columns it gives up, in turn, the name, the
// titles of the tabs not shown (their numbers stay) and the badge's "SCIM", and only then
// cuts, with an ellipsis, rather than wrap or cut a word.
func (a *app) tabBar() string {
	st := a.d.styles
	badge := a.feed.badge(st)
	shortBadge := strings.Replace(badge, "SCIM ", "", 1)
	var top, rule string
	fitted := false
	for _, form := range []struct {
		brand, numbersOnly bool
		badge              string
	}{{true, false, badge}, {false, false, badge}, {false, true, badge}, {false, true, shortBadge}} {
		top, rule = a.tabLine(form.brand, form.numbersOnly)
		if lipgloss.Width(top)+1+lipgloss.Width(form.badge) <= a.width {
			top += strings.Repeat(" ", a.width-lipgloss.Width(top)-lipgloss.Width(form.badge)) + form.badge
			fitted = true
			break
		}
	}
	if !fitted { // narrower than the tab numbers and the badge: cut, and say so
		top = ansi.Truncate(top+" "+shortBadge, max(0, a.width-1), "") + "…"
	}
	if n := a.width - lipgloss.Width(rule); n > 0 {
		rule += strings.Repeat("─", n)
	}
	return block(top, a.width, 1) + "\n" + block(st.Rule.Render(rule), a.width, 1)
}

// tabLine is the tab bar without the badge, and the rule under it: with the name or not,
// with every title or only the shown tab's (the others by number).
func (a *app) tabLine(brand, numbersOnly bool) (string, string) {
	st := a.d.styles
	var top, rule strings.Builder
	if brand {
		top.WriteString(st.Brand.Render("scimdesk") + " ")
		rule.WriteString(strings.Repeat("─", 9))
	}
	for i, t := range a.tabs {
		label := " " + string(rune('1'+i)) + " " + t.Title() + " "
		if numbersOnly && i != a.active {
			label = " " + string(rune('1'+i)) + " "
		}
		w := lipgloss.Width(label)
		if i == a.active {
			top.WriteString(st.TabActive.Render(label))
			rule.WriteString(strings.Repeat("━", w))
		} else {
			top.WriteString(st.TabInactive.Render(label))
			rule.WriteString(strings.Repeat("─", w))
		}
	}
	return top.String(), rule.String()
}

// statusLine is the last message, or where the database and the server's log are. A
// message too long for the width ends with an ellipsis at a word's end.
func (a *app) statusLine() string {
	st := a.d.styles
	text := clean(a.status.Text) // errors may quote what an identity provider sent
	switch a.status.Level {
	case levelErr:
		return st.StatusErr.Render(cutWords("✗ "+text, a.width))
	case levelOK:
		return st.StatusOK.Render(cutWords("✓ "+text, a.width))
	}
	if text != "" {
		return st.StatusInfo.Render(cutWords("· "+text, a.width))
	}
	return st.Dim.Render(a.whereLine())
}

// whereLine says where the database and the server's log are, in the width: the whole
// line if it fits, else the log alone (what an admin looks for when something is wrong),
// its path shortened from the left.
func (a *app) whereLine() string {
	log := a.serverLog()
	if line := "db " + a.d.dbPath + " · " + log; ansi.StringWidth(line) <= a.width {
		return line
	}
	if ansi.StringWidth(log) <= a.width {
		return log
	}
	return cutLeft(log, a.width)
}

// serverLog names the log of the process that serves this database: this console's own
// file when the server runs here; when attached to a server in another process, where that
// process logs, as its heartbeat says; when attached to several, that each has its own.
func (a *app) serverLog() string {
	other := others(a.d, a.feed.beats, a.d.now())
	switch {
	case a.d.server != nil || len(other) == 0:
		return "server log " + a.d.logPath
	case len(other) > 1:
		return "server logs: one per server, on its host (" + strconv.Itoa(len(other)) + " serve; tab 1 lists them)"
	}
	h := other[0]
	pid, on := strconv.Itoa(h.PID), ""
	if h.Host != "" && h.Host != a.d.host {
		on = " on " + clean(h.Host)
	}
	switch h.Log {
	case "":
		return "server log: wherever pid " + pid + on + " logs (its --log-file, or its stderr)"
	case db.LogStderr:
		return "server log: the stderr of pid " + pid + on
	case db.LogJournal:
		return "server log: journalctl _PID=" + pid + strings.Replace(on, " on", ", on", 1)
	}
	return "server log " + clean(h.Log) + " (pid " + pid + on + ")"
}

// cutWords shortens s to w cells, ending with an ellipsis after the last whole word that
// fits.
func cutWords(s string, w int) string {
	if ansi.StringWidth(s) <= w || w <= 1 {
		return s
	}
	cut := ansi.Truncate(s, w-1, "")
	if i := strings.LastIndex(cut, " "); i > 0 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,;:·") + "…"
}

// cutLeft shortens s to w cells from the left, keeping its end (a path's file name).
func cutLeft(s string, w int) string {
	r := []rune(s)
	for len(r) > 0 && ansi.StringWidth(string(r))+1 > w {
		r = r[1:]
	}
	return "…" + string(r)
}
