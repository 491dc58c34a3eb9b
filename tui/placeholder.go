package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
)

// Placeholders. A text field shows a hint (a placeholder) while empty, set apart from
// typed text by colour alone (dim). Without colour (NO_COLOR, or a terminal without any),
// a hint reads exactly like a value someone typed, and a user may believe the field is
// filled. There, the hint is put in brackets, as an example: [e.g. you@example.com].

// colourless reports whether the terminal shows no colour: the renderer then drops the dim
// that marks placeholders.
func colourless(msg tea.ColorProfileMsg) bool {
	return msg.Profile != colorprofile.Unknown && msg.Profile <= colorprofile.ASCII
}

// markHint is the hint for a field: as given with colour, in brackets as an example
// without it.
func markHint(hint string, noColour bool) string {
	switch {
	case !noColour || hint == "":
		return hint
	case strings.Contains(hint, "e.g."):
		return "[" + hint + "]"
	}
	return "[e.g. " + hint + "]"
}
