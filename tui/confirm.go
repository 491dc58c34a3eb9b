package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// confirm is a yes/no question before something that cannot be undone at once (disabling
// SCIM, revoking a token, quitting while this process serves SCIM). Only y answers yes;
// n, esc or any other key says no, so a stray key never does harm.
type confirm struct {
	d        *deps
	open     bool
	question string
	detail   string
	yes      tea.Cmd
	no       string // the status line when the answer is no; "" for the usual one
}

// ask opens the question; yes runs if the admin answers y.
func (c *confirm) ask(question, detail string, yes tea.Cmd) {
	c.open, c.question, c.detail, c.yes, c.no = true, question, detail, yes, ""
}

// update answers the question with a key.
func (c *confirm) update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	c.open = false
	if key.Matches(k, c.d.keys.Yes) {
		return c.yes
	}
	if c.no != "" {
		return report(levelInfo, c.no)
	}
	return report(levelInfo, "Cancelled: nothing was changed.")
}

// questionLines bounds how many lines the question may take: it quotes names from the
// identity provider, which may be long.
const questionLines = 3

// view draws the question in a box in the middle of the area. Every line is wrapped to
// the box, so a long name never pushes the box's right border off the screen.
func (c *confirm) view(width, height int) string {
	st := c.d.styles
	// The dialog's border and padding take 6 columns.
	inner := max(10, min(60, width-10))
	body := st.Heading.Render(strings.Join(clip(c.question, inner, questionLines), "\n"))
	if c.detail != "" {
		body += "\n\n" + lipgloss.NewStyle().Width(inner).Render(strings.Join(clip(c.detail, inner, 8), "\n"))
	}
	body += "\n\n" + st.Key.Render("y") + " yes    " + st.Key.Render("n") + "/" + st.Key.Render("esc") + " no"
	return lipgloss.Place(width, height, lipgloss.Center, lipgloss.Center, st.Dialog.Render(body))
}

// keys is the help for the open question.
func (c *confirm) keys() keyHelp {
	return keyHelp{short: []key.Binding{c.d.keys.Yes, c.d.keys.No}}
}
