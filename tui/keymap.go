package tui

import (
	"charm.land/bubbles/v2/key"
)

// keyMap is every key the console knows, built once and shared by pointer with all tabs,
// so that a key means the same thing on every tab and the help lists what really works.
type keyMap struct {
	// Global.
	Quit, ForceQuit, Help, NextTab, PrevTab, Jump key.Binding
	Tabs                                          [5]key.Binding

	// Lists and views.
	Up, Down, PageUp, PageDown, Top, Bottom, Open, Back key.Binding
	Filter, StatusFilter, Copy, CopyURL                 key.Binding
	Failures                                            key.Binding // activity: failures only

	// Actions.
	ToggleSCIM, NewToken, Revoke, Rotate, ShowAll, SetupCode, Invite key.Binding

	// Forms and questions.
	NextField, Left, Right, Submit, Yes, No key.Binding
}

func newKeyMap() *keyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	km := &keyMap{
		Quit:      b([]string{"q"}, "q", "quit"),
		ForceQuit: b([]string{"ctrl+c"}, "ctrl+c", "quit at once"),
		Help:      b([]string{"?"}, "?", "all keys"),
		NextTab:   b([]string{"tab"}, "tab", "next tab"),
		PrevTab:   b([]string{"shift+tab"}, "shift+tab", "previous tab"),
		Jump:      b([]string{"1", "2", "3", "4", "5"}, "1-5", "jump to tab"),

		Up:           b([]string{"up", "k"}, "↑/k", "up"),
		Down:         b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:       b([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown:     b([]string{"pgdown", "ctrl+f", "space"}, "pgdn", "page down"),
		Top:          b([]string{"home", "g"}, "g/home", "first"),
		Bottom:       b([]string{"end", "G"}, "G/end", "last"),
		Open:         b([]string{"enter"}, "enter", "details"),
		Back:         b([]string{"esc"}, "esc", "back"),
		Filter:       b([]string{"/"}, "/", "filter"),
		StatusFilter: b([]string{"s"}, "s", "status filter"),
		Copy:         b([]string{"c"}, "c", "copy"),
		Failures:     b([]string{"f"}, "f", "failures only"),
		CopyURL:      b([]string{"u"}, "u", "copy SCIM URL"),

		ToggleSCIM: b([]string{"e"}, "e", "enable/disable SCIM"),
		NewToken:   b([]string{"n"}, "n", "new token"),
		Revoke:     b([]string{"x", "delete"}, "x", "revoke"),
		Rotate:     b([]string{"r"}, "r", "rotate"),
		ShowAll:    b([]string{"a"}, "a", "show all"),
		SetupCode:  b([]string{"i"}, "i", "issue setup code"),
		Invite:     b([]string{"m"}, "m", "email setup code"),

		NextField: b([]string{"tab", "shift+tab", "down", "up"}, "tab", "next field"),
		Left:      b([]string{"left", "h"}, "←/→", "lifetime"),
		Right:     b([]string{"right", "l"}, "←/→", "lifetime"),
		Submit:    b([]string{"enter"}, "enter", "create"),
		Yes:       b([]string{"y", "Y"}, "y", "yes"),
		No:        b([]string{"n", "N", "esc"}, "n/esc", "no"),
	}
	for i := range km.Tabs {
		n := string(rune('1' + i))
		km.Tabs[i] = b([]string{n}, n, "tab "+n)
	}
	return km
}

// keyHelp is a help.KeyMap made of fixed lists: each tab hands one out for the state it
// is in, so the footer shows only the keys that work right now.
type keyHelp struct {
	short []key.Binding
	full  [][]key.Binding
}

// ShortHelp is the footer line.
func (k keyHelp) ShortHelp() []key.Binding { return k.short }

// FullHelp is the ? screen, in columns.
func (k keyHelp) FullHelp() [][]key.Binding {
	if k.full == nil {
		return [][]key.Binding{k.short}
	}
	return k.full
}

// nav is the column of list movement keys that every list shares in the full help.
func (k *keyMap) nav() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}
}

// global is the column of keys that work on every tab; with the SCIM server in this
// process, q asks first (quitting stops the server) and ctrl+c does not. Over SSH (remote)
// q ends the session only, and the help says the server keeps serving.
func (k *keyMap) global(serverHere, remote bool) []key.Binding {
	quit := k.Quit
	switch {
	case remote:
		quit.SetHelp("q", "end this SSH session (the server keeps serving)")
	case serverHere:
		quit.SetHelp("q", "quit (asks first)")
	}
	return []key.Binding{k.Jump, k.NextTab, k.PrevTab, k.Help, quit, k.ForceQuit}
}
