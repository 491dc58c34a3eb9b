package tui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"scimdesk/db"
)

// overlaps are the choices of the rotate form: how long the old token keeps working
// beside the new one. 24 hours, the default, leaves a working day to paste the new secret.
var overlaps = []struct {
	label   string
	overlap time.Duration
}{
	{"none", 0},
	{"1 hour", time.Hour},
	{"24 hours", 24 * time.Hour},
	{"3 days", 3 * 24 * time.Hour},
	{"7 days", 7 * 24 * time.Hour},
}

// defaultOverlap is the index of 24 hours in overlaps.
const defaultOverlap = 2

// rotateForm asks how long the old token keeps working, then rotates it.
type rotateForm struct {
	d       *deps
	tok     db.Token
	overlap int // index into overlaps
}

// start opens the form for tok.
func (f *rotateForm) start(tok db.Token) {
	f.tok, f.overlap = tok, defaultOverlap
}

// update handles a key; it returns the command to rotate the token when the admin
// confirms, and done when the form should close.
func (f *rotateForm) update(k tea.KeyPressMsg) (done bool, cmd tea.Cmd) {
	km := f.d.keys
	switch {
	case key.Matches(k, km.Back):
		return true, report(levelInfo, "Not rotated: nothing was changed.")
	case key.Matches(k, km.Submit):
		return true, rotateToken(f.d, f.tok.ID, overlaps[f.overlap].overlap)
	case key.Matches(k, km.Left):
		f.overlap = max(0, f.overlap-1)
	case key.Matches(k, km.Right):
		f.overlap = min(len(overlaps)-1, f.overlap+1)
	}
	return false, nil
}

// view draws the form.
func (f *rotateForm) view(width int) string {
	st := f.d.styles
	now := f.d.now()
	var b strings.Builder
	// The description may be long (the CLI takes any): one line for it, with an ellipsis.
	tail := " (" + f.tok.ID + ", " + f.tok.Hint + ")"
	desc := strings.TrimRight(fit(clean(f.tok.Description), max(10, width-lipgloss.Width("Rotate token “”"+tail)), false), " ")
	b.WriteString(st.Heading.Render("Rotate token “"+desc+"”") + st.Dim.Render(tail) + "\n\n")
	b.WriteString(hangJoin("A new token with the same description and lifetime replaces it; its secret is shown once. "+
		"The old token keeps working for the overlap, so the identity provider never gets 401 while you paste the new one.", width) + "\n\n")
	b.WriteString(st.Accent.Render("› ") + st.Label.Render(fit("Overlap", 14, false)))
	for i, o := range overlaps {
		if i == f.overlap {
			b.WriteString(st.Selected.Render("[" + o.label + "]"))
		} else {
			b.WriteString(" " + o.label + " ")
		}
	}
	b.WriteString("\n\n")
	o := overlaps[f.overlap].overlap
	stop := now.Add(o)
	switch {
	case o == 0:
		b.WriteString(hangJoin(st.Warn.Render("▲ The old token stops at once: the identity provider gets 401 until it has the new secret."), width))
	case !f.tok.Expires.IsZero() && f.tok.Expires.Before(stop):
		b.WriteString(hangJoin("The old token stops at its own expiry, "+stamp(f.tok.Expires)+", before the overlap ends.", width))
	default:
		b.WriteString(hangJoin("The old token stops "+until(now, stop)+", at "+stamp(stop)+".", width))
	}
	return b.String()
}

// keys is the form's help.
func (f *rotateForm) keys() keyHelp {
	km := f.d.keys
	submit, choose, back := km.Submit, km.Left, km.Back
	submit.SetHelp("enter", "rotate")
	choose.SetHelp("←/→", "overlap")
	back.SetHelp("esc", "cancel")
	return keyHelp{short: []key.Binding{submit, choose, back}}
}
