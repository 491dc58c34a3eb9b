package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// helpMenu is the ? screen: every key that works right now, one a line, and, as in
// lazygit's menus, a way to run one from there: move to it and press enter (or press the
// key itself). esc, ? or q close it without doing anything.
type helpMenu struct {
	d      *deps
	open   bool
	title  string
	items  []key.Binding
	cursor int
	top    int
}

// show opens the menu over groups of bindings (a tab's full help and the global keys);
// a key listed twice is listed once.
func (m *helpMenu) show(title string, groups [][]key.Binding) {
	m.open, m.title, m.cursor, m.top, m.items = true, title, 0, 0, nil
	seen := map[string]bool{}
	for _, g := range groups {
		for _, b := range g {
			h := b.Help()
			if !b.Enabled() || h.Key == "" || seen[h.Key+h.Desc] {
				continue
			}
			seen[h.Key+h.Desc] = true
			m.items = append(m.items, b)
		}
	}
}

// update handles a key while the menu is open; it returns the key to run once the menu
// has closed, if any.
func (m *helpMenu) update(k tea.KeyPressMsg) (run tea.KeyPressMsg, ok bool) {
	km := m.d.keys
	switch {
	case key.Matches(k, km.Back), key.Matches(k, km.Help), key.Matches(k, km.Quit):
		m.open = false
	case key.Matches(k, km.Up):
		m.cursor = max(0, m.cursor-1)
	case key.Matches(k, km.Down):
		m.cursor = min(len(m.items)-1, m.cursor+1)
	case key.Matches(k, km.Open):
		m.open = false
		if m.cursor < len(m.items) {
			return pressFor(m.items[m.cursor])
		}
	default: // a key of the list, pressed here, does what it says
		m.open = false
		return k, true
	}
	return tea.KeyPressMsg{}, false
}

// view is the list, the selected line marked (by › and reverse video, so that it shows
// without colour too), scrolled to keep it in sight.
func (m *helpMenu) view(width, height int) string {
	st := m.d.styles
	rows := max(1, height-4) // the title, a blank line, a blank line and the hint
	if m.cursor < m.top {
		m.top = m.cursor
	}
	if m.cursor >= m.top+rows {
		m.top = m.cursor - rows + 1
	}
	keyW := 0
	for _, b := range m.items {
		keyW = max(keyW, ansi.StringWidth(b.Help().Key))
	}
	lines := []string{st.Heading.Render("All keys — " + m.title), ""}
	for i := m.top; i < min(len(m.items), m.top+rows); i++ {
		h := m.items[i].Help()
		line := fit(h.Key, keyW, false) + "  " + h.Desc
		if i == m.cursor {
			lines = append(lines, st.Selected.Render(fit("› "+line, max(1, min(width, keyW+40)), false)))
			continue
		}
		lines = append(lines, "  "+st.Key.Render(fit(h.Key, keyW, false))+"  "+h.Desc)
	}
	lines = append(lines, "", st.Dim.Render(cutWords("↑/↓ choose · enter runs it (or press its key) · esc closes", width)))
	return strings.Join(lines, "\n")
}

// keys is the footer while the menu is open.
func (m *helpMenu) keys() keyHelp {
	km := m.d.keys
	run, done := km.Open, km.Back
	run.SetHelp("enter", "run it")
	done.SetHelp("esc", "close")
	return keyHelp{short: []key.Binding{km.Up, km.Down, run, done}}
}

// pressFor is the key press that a binding's first key names, as the terminal would send
// it: "enter", "shift+tab", "ctrl+c", "pgdown", or a character.
func pressFor(b key.Binding) (tea.KeyPressMsg, bool) {
	keys := b.Keys()
	if len(keys) == 0 {
		return tea.KeyPressMsg{}, false
	}
	named := map[string]tea.KeyPressMsg{
		"enter": {Code: tea.KeyEnter}, "esc": {Code: tea.KeyEscape}, "tab": {Code: tea.KeyTab},
		"shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift}, "up": {Code: tea.KeyUp}, "down": {Code: tea.KeyDown},
		"left": {Code: tea.KeyLeft}, "right": {Code: tea.KeyRight}, "pgdown": {Code: tea.KeyPgDown},
		"pgup": {Code: tea.KeyPgUp}, "end": {Code: tea.KeyEnd}, "home": {Code: tea.KeyHome},
		"delete": {Code: tea.KeyDelete}, "space": {Code: tea.KeySpace, Text: " "},
	}
	k := keys[0]
	if m, ok := named[k]; ok {
		return m, true
	}
	if mod, r, ok := strings.Cut(k, "ctrl+"); ok && mod == "" && len([]rune(r)) == 1 {
		return tea.KeyPressMsg{Code: []rune(r)[0], Mod: tea.ModCtrl}, true
	}
	if r := []rune(k); len(r) == 1 {
		return tea.KeyPressMsg{Code: r[0], Text: k}, true
	}
	return tea.KeyPressMsg{}, false
}
