package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// confirm is a yes/no question before something that cannot be undone at once (disabling
// SCIM, revoking a token). Only y answers yes; n, esc or any other key says no, so a
// stray key never does harm.
type confirm struct {
	d        *deps
	open     bool
	question string
	detail   string
	yes      tea.Cmd
}

// ask opens the question; yes runs if the admin answers y.
func (c *confirm) ask(question, detail string, yes tea.Cmd) {
	c.open, c.question, c.detail, c.yes = true, question, detail, yes
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
	return report(levelInfo, "Cancelled: nothing was changed.")
}

// view draws the question in a box in the middle of the area.
func (c *confirm) view(width, height int) string {
	st := c.d.styles
	body := st.Heading.Render(c.question)
	if c.detail != "" {
		body += "\n\n" + lipgloss.NewStyle().Width(min(60, max(20, width-10))).Render(c.detail)
	}
	body += "\n\n" + st.Key.Render("y") + " yes    " + st.Key.Render("n") + "/" + st.Key.Render("esc") + " no"
	return lipgloss.Place(width, height, lipgloss.Center, lipgloss.Center, st.Dialog.Render(body))
}

// keys is the help for the open question.
func (c *confirm) keys() keyHelp {
	return keyHelp{short: []key.Binding{c.d.keys.Yes, c.d.keys.No}}
}
