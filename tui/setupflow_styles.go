package tui

import (
	"image/color"

	"charm.land/bubbles/v2/textinput"
	"charm.land/lipgloss/v2"
)

// setupFlowStyles are the looks of `scimdesk setup` and `scimdesk recover`. They are the
// flow's own, apart from the console's styles, so that each can change without the other;
// the colours come from the console's palette (newPalette) and, as in the console,
// no state is told by colour alone: every mark also has a symbol or a word.
type setupFlowStyles struct {
	Title, Heading, Text, Dim, Label lipgloss.Style
	StepNow, StepDone, StepTodo      lipgloss.Style
	Rule                             lipgloss.Style
	OK, Err, Warn                    lipgloss.Style
	Secret, Key                      lipgloss.Style
	Meter                            [5]lipgloss.Style // by strength score, 0 to 4
	MeterEmpty                       lipgloss.Style
	Input                            textinput.Styles
}

func newSetupFlowStyles(dark bool) *setupFlowStyles {
	pal := newPalette(dark) // the console's colours
	subtle, faint, accent, green, yellow, red := pal.subtle, pal.faint, pal.accent, pal.green, pal.yellow, pal.red

	base := lipgloss.NewStyle()
	s := &setupFlowStyles{
		Title:      base.Bold(true).Foreground(accent),
		Heading:    base.Bold(true),
		Text:       base,
		Dim:        base.Foreground(subtle),
		Label:      base.Foreground(subtle),
		StepNow:    base.Bold(true).Reverse(true),
		StepDone:   base.Foreground(green),
		StepTodo:   base.Foreground(subtle),
		Rule:       base.Foreground(faint),
		OK:         base.Bold(true).Foreground(green),
		Err:        base.Bold(true).Foreground(red),
		Warn:       base.Bold(true).Foreground(yellow),
		Secret:     base.Bold(true).Foreground(accent),
		Key:        base.Bold(true),
		MeterEmpty: base.Foreground(faint),
	}
	for i, c := range []color.Color{red, red, yellow, green, green} {
		s.Meter[i] = base.Foreground(c)
	}
	s.Input = textinput.DefaultStyles(dark)
	s.Input.Cursor.Blink = false // a blinking cursor repaints twice a second over SSH for nothing
	s.Input.Cursor.Color = accent
	s.Input.Focused.Prompt = base.Bold(true).Foreground(accent)
	s.Input.Focused.Placeholder = s.Dim
	s.Input.Blurred.Placeholder = s.Dim
	return s
}
