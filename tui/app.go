package tui

import (
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// app is the root model. It owns the window size, quitting, the help screen and the
// status line, and routes: keys go to the shown tab only, everything else (data, events,
// results) to every tab, so hidden tabs stay current.
type app struct {
	d      *deps
	tabs   []tab
	active int
	feed   *feed
	help   help.Model
	menu   helpMenu // the ? screen, from which a listed key can be run
	width  int
	height int
	status statusMsg
	seq    int // numbers status lines, so an old expiry does not clear a newer line
	// quit asks before q stops the SCIM server that runs in this process.
	quit confirm
}

func newApp(d *deps) *app {
	a := &app{d: d, feed: newFeed(d), help: help.New(), quit: confirm{d: d}, menu: helpMenu{d: d}}
	a.tabs = []tab{newProvisioning(d), newTokens(d), newUsers(d), newGroups(d), newActivity(d)}
	a.help.Styles = d.styles.Help
	return a
}

// Init asks the terminal for its background (light or dark), starts the live feed and
// every tab's first read, and shows why the server did not start, if it did not.
func (a *app) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor, a.feed.init()}
	for _, t := range a.tabs {
		cmds = append(cmds, t.Init())
	}
	if a.d.serverErr != nil {
		cmds = append(cmds, report(levelErr, "The SCIM server is not running: tab 1 says why and what to do."))
	}
	return tea.Batch(cmds...)
}

// Update routes one message.
func (a *app) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if m, ok := msg.(tea.ColorProfileMsg); ok {
		a.d.noColour = colourless(m) // the forms mark their placeholders when they open
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.width, a.height = msg.Width, msg.Height
		a.help.SetWidth(msg.Width)
		for _, t := range a.tabs {
			t.SetSize(msg.Width, a.bodyHeight())
		}
		return a, nil
	case tea.BackgroundColorMsg:
		*a.d.styles = *newStyles(msg.IsDark())
		a.help.Styles = a.d.styles.Help
		return a, nil
	case statusMsg:
		a.seq++
		a.status = msg
		return a, expireStatus(a.seq, msg.Level)
	case statusExpiredMsg:
		if msg.Seq == a.seq {
			a.status = statusMsg{}
		}
		return a, nil
	case tea.KeyPressMsg:
		return a, a.key(msg)
	case tea.PasteMsg:
		return a, a.tabs[a.active].Update(msg)
	}
	cmds := []tea.Cmd{a.feed.update(msg)}
	for _, t := range a.tabs {
		cmds = append(cmds, t.Update(msg))
	}
	return a, tea.Batch(cmds...)
}

// key handles the global keys, unless the shown tab is reading text, and passes the rest on.
func (a *app) key(k tea.KeyPressMsg) tea.Cmd {
	km := a.d.keys
	if key.Matches(k, km.ForceQuit) {
		return tea.Quit
	}
	if a.quit.open {
		return a.quit.update(k)
	}
	if a.menu.open {
		run, ok := a.menu.update(k)
		if !ok {
			return nil
		}
		return a.key(run) // as if pressed on the screen the help was opened over
	}
	t := a.tabs[a.active]
	if !t.Capturing() {
		switch {
		case key.Matches(k, km.Quit):
			return a.askQuit()
		case key.Matches(k, km.Help):
			a.clearTransient()
			a.menu.show(t.Title(), append(t.KeyMap().FullHelp(), a.menuGlobal()))
			return nil
		case key.Matches(k, km.NextTab):
			return a.switchTo((a.active + 1) % len(a.tabs))
		case key.Matches(k, km.PrevTab):
			return a.switchTo((a.active + len(a.tabs) - 1) % len(a.tabs))
		}
		for i, b := range km.Tabs {
			if key.Matches(k, b) {
				return a.switchTo(i)
			}
		}
	}
	capturing := t.Capturing()
	cmd := t.Update(k)
	if !capturing && t.Capturing() {
		a.clearTransient() // a question, a form or a filter opened
	}
	return cmd
}

// menuGlobal is the global column of keys for the ? list: as in the help, but with a line
// per tab ("3  Users") instead of "1-5", so that each line runs one thing.
func (a *app) menuGlobal() []key.Binding {
	var out []key.Binding
	for _, b := range a.d.keys.global(a.d.server != nil, a.d.remote) {
		if b.Help().Key != a.d.keys.Jump.Help().Key {
			out = append(out, b)
			continue
		}
		for i, tb := range a.d.keys.Tabs {
			tb.SetHelp(tb.Help().Key, "tab "+a.tabs[i].Title())
			out = append(out, tb)
		}
	}
	return out
}

// askQuit quits at once, unless the SCIM server runs in this process: then quitting
// stops it, and the identity providers get "connection refused", so it asks first.
func (a *app) askQuit() tea.Cmd {
	if a.d.server == nil || a.d.remote { // over SSH only this session ends
		return tea.Quit
	}
	a.clearTransient()
	a.quit.ask("Quit?",
		"This stops the SCIM server on "+a.d.server.Addr()+": Okta and Entra ID cannot reach it until you start scimdesk again.",
		tea.Quit)
	a.quit.no = "Still running: the SCIM server keeps serving."
	return nil
}

// clearTransient clears the status line unless it reports an error: a passing note
// ("Cancelled", "Secret hidden") must not follow the admin to another screen, while an
// error stays until the next action replaces it (or it expires).
func (a *app) clearTransient() {
	if a.status.Level != levelErr {
		a.seq++
		a.status = statusMsg{}
	}
}

// switchTo shows tab i; both tabs are told: the one left behind can forget what must not
// outlive the screen (a token's secret), the one shown starts holding its selection still.
func (a *app) switchTo(i int) tea.Cmd {
	if i == a.active {
		return nil
	}
	left := a.tabs[a.active]
	a.active = i
	a.clearTransient()
	return tea.Batch(left.Update(tabLeftMsg{}), a.tabs[i].Update(tabShownMsg{}))
}

// bodyHeight is what the tabs get: the screen less the tab bar, its rule, the status line
// and the key line.
func (a *app) bodyHeight() int { return max(1, a.height-4) }

// View draws the whole screen, always exactly the window's size.
func (a *app) View() tea.View {
	v := tea.NewView("")
	v.AltScreen = true
	v.WindowTitle = "scimdesk"
	if a.width <= 0 || a.height <= 0 {
		return v
	}
	t := a.tabs[a.active]
	body := t.View()
	keys := t.KeyMap()
	switch {
	case a.quit.open:
		body, keys = a.quit.view(a.width, a.bodyHeight()), a.quit.keys()
	case a.menu.open:
		body, keys = a.menu.view(a.width, a.bodyHeight()), a.menu.keys()
	}
	short := keys.ShortHelp()
	if !t.Capturing() && !a.quit.open && !a.menu.open {
		short = append(short[:len(short):len(short)], a.d.keys.Help, a.d.keys.Quit)
	}
	v.SetContent(strings.Join([]string{
		a.tabBar(),
		block(body, a.width, a.bodyHeight()),
		block(a.statusLine(), a.width, 1),
		block(a.help.ShortHelpView(short), a.width, 1),
	}, "\n"))
	return v
}
