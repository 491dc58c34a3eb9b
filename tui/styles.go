package tui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	"charm.land/lipgloss/v2"
)

// styles are every look of the console, built once (and again when the terminal reports
// its background) and shared by pointer with all tabs.
//
// Colours are the 16 ANSI colours where that is enough, so that 16-colour terminals and
// the admin's own palette render them as meant; greys depend on the background. Nothing
// relies on colour alone: every state also has a word or a symbol, because the renderer
// drops all colour under NO_COLOR (decorations such as bold and reverse stay).
type styles struct {
	Dark bool

	TabActive, TabInactive, Brand lipgloss.Style
	Rule                          lipgloss.Style

	Heading, Label, Value, Dim, Accent lipgloss.Style
	OK, Warn, Fail                     lipgloss.Style
	Key                                lipgloss.Style

	ColHeader, Selected lipgloss.Style

	StatusInfo, StatusOK, StatusErr lipgloss.Style

	Secret, Dialog, Panel lipgloss.Style

	Help  help.Styles
	Input textinput.Styles
}

// palette is the few colours every screen uses, picked for a dark or light background
// from the 16/256-colour sets so that they survive limited terminals.
type palette struct {
	subtle, faint, accent, green, yellow, red color.Color
}

func newPalette(dark bool) palette {
	ld := lipgloss.LightDark(dark)
	return palette{
		subtle: ld(lipgloss.Color("243"), lipgloss.Color("246")),
		faint:  ld(lipgloss.Color("250"), lipgloss.Color("238")),
		accent: ld(lipgloss.Color("4"), lipgloss.Color("14")),
		green:  ld(lipgloss.Color("2"), lipgloss.Color("10")),
		yellow: ld(lipgloss.Color("3"), lipgloss.Color("11")),
		red:    ld(lipgloss.Color("1"), lipgloss.Color("9")),
	}
}

// newStyles builds the styles for a dark or light background.
func newStyles(dark bool) *styles {
	pal := newPalette(dark)
	subtle, faint, accent, green, yellow, red := pal.subtle, pal.faint, pal.accent, pal.green, pal.yellow, pal.red

	s := &styles{Dark: dark}
	base := lipgloss.NewStyle()
	s.Brand = base.Bold(true).Foreground(accent)
	s.TabActive = base.Bold(true).Reverse(true)
	s.TabInactive = base.Foreground(subtle)
	s.Rule = base.Foreground(faint)

	s.Heading = base.Bold(true)
	s.Label = base.Foreground(subtle)
	s.Value = base
	s.Dim = base.Foreground(subtle)
	s.Accent = base.Bold(true).Foreground(accent)
	s.OK = base.Foreground(green)
	s.Warn = base.Bold(true).Foreground(yellow)
	s.Fail = base.Bold(true).Foreground(red)
	s.Key = base.Bold(true)

	s.ColHeader = base.Bold(true).Foreground(subtle)
	s.Selected = base.Reverse(true)

	s.StatusInfo = base.Foreground(subtle)
	s.StatusOK = base.Foreground(green)
	s.StatusErr = base.Bold(true).Foreground(red)

	s.Secret = base.Bold(true).Foreground(accent)
	s.Dialog = base.Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(1, 2)
	s.Panel = base.Border(lipgloss.NormalBorder(), true, false).BorderForeground(faint)

	s.Help = help.DefaultStyles(dark)
	s.Help.ShortKey = s.Help.ShortKey.Bold(true)
	s.Help.FullKey = s.Help.FullKey.Bold(true)

	s.Input = textinput.DefaultStyles(dark)
	s.Input.Cursor.Blink = false  // a blinking cursor repaints twice a second over SSH for nothing
	s.Input.Cursor.Color = accent // the default, white, vanishes on a light background
	s.Input.Focused.Prompt = s.Accent
	s.Input.Focused.Placeholder = s.Dim
	s.Input.Blurred.Placeholder = s.Dim
	return s
}
