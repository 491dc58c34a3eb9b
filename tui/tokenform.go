package tui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// lifetimes are the choices of the new-token form; 90 days is the default.
var lifetimes = []struct {
	label string
	ttl   time.Duration
}{
	{"30 days", 30 * 24 * time.Hour},
	{"90 days", 90 * 24 * time.Hour},
	{"180 days", 180 * 24 * time.Hour},
	{"365 days", 365 * 24 * time.Hour},
	{"never", 0},
}

// descriptionHint is the description field's placeholder.
const descriptionHint = "what it is for, e.g. okta production"

// tokenForm asks for a new token's description and lifetime.
type tokenForm struct {
	d        *deps
	desc     textinput.Model
	lifetime int // index into lifetimes
	field    int // 0: description, 1: lifetime
	problem  string
}

func newTokenForm(d *deps) tokenForm {
	in := textinput.New()
	in.Prompt = ""
	in.Placeholder = descriptionHint
	in.CharLimit = 100
	in.SetStyles(d.styles.Input)
	return tokenForm{d: d, desc: in, lifetime: 1}
}

// start clears the form and puts the cursor in the description.
func (f *tokenForm) start(width int) tea.Cmd {
	f.desc.SetValue("")
	f.desc.SetStyles(f.d.styles.Input)
	f.desc.Placeholder = markHint(descriptionHint, f.d.noColour)
	f.desc.SetWidth(max(20, min(50, width-20)))
	f.lifetime, f.field, f.problem = 1, 0, ""
	return f.desc.Focus()
}

// update handles a key or paste; it returns the command to create the token when the
// admin submits a valid form, and done when the form should close.
func (f *tokenForm) update(msg tea.Msg) (done bool, cmd tea.Cmd) {
	km := f.d.keys
	k, isKey := msg.(tea.KeyPressMsg)
	switch {
	case isKey && key.Matches(k, km.Back):
		return true, report(levelInfo, "No token created.")
	case isKey && key.Matches(k, km.Submit):
		desc := strings.TrimSpace(f.desc.Value())
		if desc == "" {
			f.problem = "a description is required, e.g. okta"
			f.field = 0
			return false, f.desc.Focus()
		}
		return true, createToken(f.d, desc, lifetimes[f.lifetime].ttl)
	case isKey && key.Matches(k, km.NextField):
		f.field = 1 - f.field
		if f.field == 0 {
			return false, f.desc.Focus()
		}
		f.desc.Blur()
		return false, nil
	case isKey && f.field == 1 && key.Matches(k, km.Left):
		f.lifetime = max(0, f.lifetime-1)
		return false, nil
	case isKey && f.field == 1 && key.Matches(k, km.Right):
		f.lifetime = min(len(lifetimes)-1, f.lifetime+1)
		return false, nil
	case f.field == 0:
		f.problem = ""
		f.desc, cmd = f.desc.Update(msg)
		return false, cmd
	}
	return false, nil
}

// view draws the form.
func (f *tokenForm) view(width int) string {
	st := f.d.styles
	var b strings.Builder
	b.WriteString(st.Heading.Render("New SCIM token") + "\n\n")
	mark := func(field int) string {
		if f.field == field {
			return st.Accent.Render("› ")
		}
		return "  "
	}
	b.WriteString(mark(0) + st.Label.Render(fit("Description", 14, false)) + f.desc.View() + "\n")
	if f.problem != "" { // inline, under the field, where the eye is
		b.WriteString(strings.Repeat(" ", 16) + st.Fail.Render("✗ "+f.problem))
	}
	b.WriteString("\n")
	b.WriteString(mark(1) + st.Label.Render(fit("Lifetime", 14, false)))
	for i, l := range lifetimes {
		if i == f.lifetime {
			b.WriteString(st.Selected.Render("[" + l.label + "]"))
		} else {
			b.WriteString(" " + l.label + " ")
		}
	}
	b.WriteString("\n")
	if lifetimes[f.lifetime].ttl == 0 {
		b.WriteString("\n" + hangJoin(st.Warn.Render("▲ A token that never expires works until you revoke it. Prefer a lifetime and replace the token before it ends."), width))
	}
	return b.String()
}

// keys is the form's help.
func (f *tokenForm) keys() keyHelp {
	km := f.d.keys
	next := km.NextField
	next.SetHelp("tab", "next field")
	back := km.Back
	back.SetHelp("esc", "cancel")
	return keyHelp{short: []key.Binding{km.Submit, next, km.Left, back}}
}

// hangJoin wraps text to width with a small indent.
func hangJoin(text string, width int) string {
	return strings.Join(hang("  ", text, width), "\n")
}
