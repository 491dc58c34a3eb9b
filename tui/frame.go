package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
)

// The frame around the tabs: the tab bar on top, the status line and the keys below.

// tabBar is the name, the tabs with the shown one marked (in reverse video, and
// underlined with heavy rule in the line below, which survives NO_COLOR and plain-text
// captures), and the SCIM badge.
func (a *app) tabBar() string {
	st := a.d.styles
	var top, rule strings.Builder
	top.WriteString(st.Brand.Render("scimdesk") + " ")
	rule.WriteString(strings.Repeat("─", 9))
	for i, t := range a.tabs {
		label := " " + string(rune('1'+i)) + " " + t.Title() + " "
		w := lipgloss.Width(label)
		if i == a.active {
			top.WriteString(st.TabActive.Render(label))
			rule.WriteString(strings.Repeat("━", w))
		} else {
			top.WriteString(st.TabInactive.Render(label))
			rule.WriteString(strings.Repeat("─", w))
		}
	}
	badge := a.feed.badge(st)
	if gap := a.width - lipgloss.Width(top.String()) - lipgloss.Width(badge); gap >= 1 {
		top.WriteString(strings.Repeat(" ", gap) + badge)
	}
	if n := a.width - lipgloss.Width(rule.String()); n > 0 {
		rule.WriteString(strings.Repeat("─", n))
	}
	return block(top.String(), a.width, 1) + "\n" + block(st.Rule.Render(rule.String()), a.width, 1)
}

// statusLine is the last message, or where the database and the server's log are.
func (a *app) statusLine() string {
	st := a.d.styles
	text := clean(a.status.Text) // errors may quote what an identity provider sent
	switch a.status.Level {
	case levelErr:
		return st.StatusErr.Render("✗ " + text)
	case levelOK:
		return st.StatusOK.Render("✓ " + text)
	}
	if text != "" {
		return st.StatusInfo.Render("· " + text)
	}
	return st.Dim.Render("db " + a.d.dbPath + " · server log " + a.d.logPath)
}
