package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// On a wide terminal the lists (users, groups, activity) show the selected row's details
// in a pane beside them, as gh-dash does, instead of stretching columns that have nothing
// more to say.

// wideFrom is the width from which a list gets its detail pane.
const wideFrom = 140

// paneWidths splits a tab's width between the list and its pane; ok is false when the
// terminal is too narrow for a pane. The list keeps the larger part: its columns still need
// room, while the pane's values wrap.
func paneWidths(width int) (list, pane int, ok bool) {
	if width < wideFrom {
		return width, 0, false
	}
	pane = width * 2 / 5
	return width - pane - len(paneRule), pane, true
}

// paneRule separates the list from its pane.
const paneRule = " │ "

// beside puts left (listW cells wide) and the pane side by side, height lines tall, every
// line cut to its column, so that nothing in either can push the other out of place.
func beside(st *styles, left string, listW int, right string, paneW, height int) string {
	ls := strings.Split(block(left, listW, height), "\n")
	rs := strings.Split(block(right, paneW, height), "\n")
	rule := st.Rule.Render(paneRule)
	var b strings.Builder
	for i := range height {
		if i > 0 {
			b.WriteByte('\n')
		}
		l, r := "", ""
		if i < len(ls) {
			l = ls[i]
		}
		if i < len(rs) {
			r = rs[i]
		}
		b.WriteString(l + strings.Repeat(" ", max(0, listW-ansi.StringWidth(l))) + rule + r)
	}
	return b.String()
}

// paneView is a detail page (a title and its lines) as a pane's content.
func paneView(title string, lines []string) string {
	return title + "\n\n" + strings.Join(lines, "\n")
}
