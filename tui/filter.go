package tui

import (
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// filterBox is the "/" search of a list. Typing is only debounced here: the query runs
// once the admin pauses, and a numbered debounce drops the pauses that more typing
// overtook, so no keystroke waits for the database.
type filterBox struct {
	d      *deps
	owner  string
	input  textinput.Model
	seq    int
	active bool // the input has the keys
	query  string
	hint   string // the placeholder, as written
}

func newFilterBox(d *deps, owner, placeholder string) filterBox {
	in := textinput.New()
	in.Prompt = "/ "
	in.Placeholder = placeholder
	in.CharLimit = 200
	in.SetStyles(d.styles.Input)
	return filterBox{d: d, owner: owner, input: in, hint: placeholder}
}

// open gives the input the keys.
func (f *filterBox) open() tea.Cmd {
	f.active = true
	f.input.SetStyles(f.d.styles.Input) // the background may have been learnt since
	f.input.Placeholder = markHint(f.hint, f.d.noColour)
	return f.input.Focus()
}

// update handles a key or paste while the input is active. It reports whether the list
// should leave the input (enter, esc, up, down); esc also clears the filter.
func (f *filterBox) update(msg tea.Msg) (done bool, cmd tea.Cmd) {
	km := f.d.keys
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case key.Matches(k, km.Back):
			f.input.SetValue("")
			f.active = false
			f.input.Blur()
			return true, f.changed()
		case k.String() == "enter", k.String() == "up", k.String() == "down":
			f.active = false
			f.input.Blur()
			return true, nil
		}
	}
	before := f.input.Value()
	f.input, cmd = f.input.Update(msg)
	if f.input.Value() != before {
		return false, tea.Batch(cmd, f.changed())
	}
	return false, cmd
}

// changed starts the typing pause.
func (f *filterBox) changed() tea.Cmd {
	f.seq++
	return debounced(f.owner, f.seq)
}

// settled reports whether msg ends the typing pause with a new query to run.
func (f *filterBox) settled(msg debounceMsg) bool {
	if msg.Owner != f.owner || msg.Seq != f.seq || f.input.Value() == f.query {
		return false
	}
	f.query = f.input.Value()
	return true
}

// setWidth fits the input to the line.
func (f *filterBox) setWidth(width int) { f.input.SetWidth(max(10, width-4)) }

// view is the filter line: the input while typing, else the filter in force or a hint.
func (f *filterBox) view(width int) string {
	st := f.d.styles
	switch {
	case f.active:
		return f.input.View()
	case f.input.Value() != "":
		return st.Accent.Render("/ "+f.input.Value()) + st.Dim.Render("  (esc clears)")
	}
	return st.Dim.Render("/ to filter")
}
