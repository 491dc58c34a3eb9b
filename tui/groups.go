package tui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"scimdesk/db"
)

// groups is tab 4: the provisioned groups with their member counts; enter shows a group's
// members, paged like the Users tab.
type groups struct {
	d             *deps
	width, height int
	list          *paged[db.Group]
	filter        filterBox
	members       *userList
	group         db.Group // whose members are shown
	showMembers   bool
	detail        detail // a member's page: enter on a member
	detailID      string
}

var groupCols = []column{
	{Title: "NAME", Min: 12, Flex: 3},
	{Title: "MEMBERS", Min: 8, Right: true},
	{Title: "EXTERNAL ID", Min: 10, Flex: 2},
	{Title: "CREATED", Min: 10},
}

func newGroups(d *deps) *groups {
	load := func(ctx context.Context, w db.Where, owner string, seq, offset int, _ bool) tea.Cmd {
		return loadGroups(ctx, d, owner, seq, w, offset)
	}
	return &groups{d: d, list: newPaged[db.Group](d, "groups", "groups", load, func(g db.Group) string { return g.ID }),
		filter: newFilterBox(d, "groups", "group name"), members: newUserList(d, "members", false), detail: newDetail(d)}
}

func (g *groups) Title() string   { return "Groups" }
func (g *groups) Capturing() bool { return g.filter.active }
func (g *groups) Init() tea.Cmd   { return g.list.query(db.GroupQuery{}.Where()) }

func (g *groups) SetSize(width, height int) {
	g.width, g.height = width, height
	g.list.win.setHeight(height - 5) // title, filter, blank, titles, footer
	g.members.win.setHeight(height - 5)
	lw, _, _ := paneWidths(width) // a wide terminal shows a pane beside the list
	g.filter.setWidth(lw / 2)
	g.detail.setSize(width, height)
}

func (g *groups) KeyMap() help.KeyMap {
	km := g.d.keys
	switch {
	case g.filter.active:
		back, done := km.Back, km.Open
		back.SetHelp("esc", "clear filter")
		done.SetHelp("enter", "keep filter")
		return keyHelp{short: []key.Binding{done, back}}
	case g.detail.open:
		return keyHelp{short: []key.Binding{km.Back, km.Up, km.Down}}
	case g.showMembers:
		open := km.Open
		open.SetHelp("enter", "the user")
		return keyHelp{short: []key.Binding{km.Back, open, km.Up, km.Down}, full: [][]key.Binding{{km.Back, open}, km.nav()}}
	}
	open := km.Open
	open.SetHelp("enter", "members")
	return keyHelp{short: []key.Binding{km.Filter, open, km.Up, km.Down}, full: [][]key.Binding{{km.Filter, open}, km.nav()}}
}

func (g *groups) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case groupsMsg:
		_, cmd := g.list.handle(msg)
		return cmd
	case usersMsg:
		mine, cmd := g.members.handle(msg)
		if mine && g.detail.open {
			for _, row := range msg.Rows {
				if row.ID == g.detailID {
					g.detail.replace(userDetail(g.d.styles, row, g.width))
				}
			}
		}
		return cmd
	case debounceMsg:
		if g.filter.settled(msg) {
			return g.list.query(db.GroupQuery{Search: g.filter.query}.Where())
		}
	case pollMsg:
		// The first poll counts too: a change made between this tab's first read and that
		// poll is only in its history, and would not show until the next change.
		if !touchesUsers(msg.Events) {
			return nil
		}
		cmds := []tea.Cmd{g.list.refresh()}
		if g.showMembers {
			cmds = append(cmds, g.members.refresh())
		}
		return tea.Batch(cmds...)
	case tabShownMsg, tabLeftMsg:
		g.list.win.watched = msg == tea.Msg(tabShownMsg{})
		g.members.win.watched = g.list.win.watched
	case tea.KeyPressMsg:
		g.list.win.watched, g.members.win.watched = true, true // keys reach a tab only while it is shown
		return g.key(msg)
	case tea.PasteMsg:
		if g.filter.active {
			_, cmd := g.filter.update(msg)
			return cmd
		}
	}
	return nil
}

func (g *groups) key(k tea.KeyPressMsg) tea.Cmd {
	km := g.d.keys
	switch {
	case g.filter.active:
		_, cmd := g.filter.update(k)
		return cmd
	case g.detail.open:
		_, cmd := g.detail.update(k)
		return cmd
	case g.showMembers:
		switch {
		case key.Matches(k, km.Back):
			g.showMembers = false
			return nil
		case key.Matches(k, km.Open):
			if row, ok := g.members.win.selected(); ok {
				g.detailID = row.ID
				g.detail.show(userDetail(g.d.styles, row, g.width))
			}
			return nil
		}
		_, cmd := g.members.navigate(k)
		return cmd
	case key.Matches(k, km.Filter):
		return g.filter.open()
	case key.Matches(k, km.Back):
		if g.filter.input.Value() != "" {
			g.filter.input.SetValue("")
			return g.filter.changed()
		}
		return nil
	case key.Matches(k, km.Open):
		grp, ok := g.list.win.selected()
		if !ok {
			return nil
		}
		g.group, g.showMembers = grp, true
		return g.members.query(db.MembersOf(grp.Seq))
	}
	_, cmd := g.list.navigate(k)
	return cmd
}

func (g *groups) View() string {
	st := g.d.styles
	if g.detail.open {
		return g.detail.view()
	}
	lw, pw, wide := paneWidths(g.width)
	if !wide {
		return g.listView(g.width)
	}
	return beside(st, g.listView(lw), lw, g.pane(pw), pw, g.height)
}

// pane is what the wide layout shows beside the list: the selected member's page, or the
// selected group's.
func (g *groups) pane(width int) string {
	st := g.d.styles
	if g.showMembers {
		row, ok := g.members.win.selected()
		if !ok {
			return st.Dim.Render("no member selected")
		}
		title, lines := userDetail(st, row, width)
		return paneView(strings.TrimSuffix(title, st.Dim.Render("   esc back")), lines)
	}
	grp, ok := g.list.win.selected()
	if !ok {
		return st.Dim.Render("no group selected")
	}
	return paneView(st.Heading.Render(strings.TrimRight(fit(clean(grp.DisplayName), width, false), " ")), fields(st, [][2]string{
		{"Name", grp.DisplayName},
		{"Members", commas(grp.MemberCount) + " (enter lists them)"},
		{"ID", grp.ID},
		{"External ID", firstNonEmpty(grp.ExternalID, "—")},
		{"Created", stamp(grp.Created)},
		{"Modified", stamp(grp.Modified)},
	}, width, fieldLines))
}

// listView is the list of groups, or of the members of one, width wide.
func (g *groups) listView(width int) string {
	st := g.d.styles
	var b strings.Builder
	if g.showMembers {
		const back = "   esc back"
		name := strings.TrimRight(fit(clean(g.group.DisplayName), width-ansi.StringWidth("Members of “”"+back), false), " ")
		b.WriteString(st.Heading.Render("Members of “"+name+"”") + st.Dim.Render(back) + "\n")
		b.WriteString(st.Dim.Render(fit(clean(fieldsLine("id", g.group.ID, "external id", firstNonEmpty(g.group.ExternalID, "—"))), width, false)) + "\n\n")
		b.WriteString(block(viewUsers(g.members, width, g.height-4, "no members"), width, g.height-4) + "\n")
		switch w := &g.members.win; {
		case w.loaded && w.total == 0:
			b.WriteString(st.Dim.Render("This group has no members."))
		case w.loaded:
			b.WriteString(st.Dim.Render(g.members.position() + " · enter opens the user"))
		}
		return b.String()
	}
	w := &g.list.win
	if w.loaded {
		b.WriteString(st.Heading.Render(plural(w.total, "group", "groups")))
		if g.filter.query != "" {
			b.WriteString(st.Dim.Render(" match"))
		}
	}
	b.WriteString("\n" + spread(g.filter.view(width/2), st.Dim.Render("oldest first"), width) + "\n\n")
	empty := "no groups yet"
	if g.filter.query != "" {
		empty = "no groups match"
	}
	b.WriteString(block(g.list.view(groupCols, width, g.height-4, empty, func(grp db.Group) []cell {
		return []cell{{Text: grp.DisplayName}, {Text: commas(grp.MemberCount)}, {Text: firstNonEmpty(grp.ExternalID, "—"), Style: st.Dim},
			{Text: day(grp.Created), Style: st.Dim}}
	}), width, g.height-4) + "\n")
	switch {
	case w.loaded && w.total == 0 && g.filter.query != "":
		b.WriteString(st.Dim.Render("No group matches. esc clears the filter."))
	case w.loaded && w.total == 0:
		b.WriteString(st.Dim.Render("No groups yet. In Okta, push groups from the app's Push Groups tab."))
	case w.loaded:
		b.WriteString(st.Dim.Render(g.list.position() + " · enter shows the members"))
	}
	return b.String()
}

// fieldsLine is "label value · label value".
func fieldsLine(kv ...string) string {
	parts := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+kv[i+1])
	}
	return strings.Join(parts, " · ")
}
