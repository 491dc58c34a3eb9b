package tui

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// activity is tab 5: the audit log, newest first and live. New events arrive through
// the feed's polls; older ones are read a page at a time when the cursor reaches the end.
// "/" filters what is held by kind, user, outcome or token, f shows failures only; the
// cursor stays on its event (by id) whatever arrives or is filtered away around it.
type activity struct {
	d             *deps
	width, height int
	events        []db.Event       // newest first: everything held
	shown         []db.Event       // the events the filters let through, newest first
	win           window[db.Event] // over shown
	olderLoading  bool
	noOlder       bool
	detail        detail
	detailID      int64
	filter        filterBox
	failures      bool // failures only
}

// keepEvents bounds the events held in memory; older ones are read again on demand.
const keepEvents = 2000

// eventColumns are the audit log's columns for a list width: the token and the summary
// get columns of their own when there is room for them, rather than the subject
// stretching to the edge.
func eventColumns(width int) []column {
	cols := []column{
		{Title: "TIME", Min: 12}, // "Nov 28 14:03" for events before today
		{Title: "IDP", Min: 6},
		{Title: "ACTION", Min: 16},
		{Title: "SUBJECT", Min: 10, Flex: 2},
		{Title: "OUTCOME", Min: 10},
	}
	if width >= 120 {
		cols = append(cols, column{Title: "TOKEN", Min: 16}, column{Title: "SUMMARY", Min: 20, Flex: 3})
	}
	return cols
}

func newActivity(d *deps) *activity {
	return &activity{d: d, win: newWindow[db.Event](), detail: newDetail(d),
		filter: newFilterBox(d, "activity", "kind, user, outcome or token")}
}

func (a *activity) Title() string   { return "Activity" }
func (a *activity) Init() tea.Cmd   { return nil } // the feed's first poll brings the history
func (a *activity) Capturing() bool { return a.filter.active }
func (a *activity) rows() int       { return max(1, a.height-3) } // heading, titles, footer

// listWidth is the width of the list: all of it, or what the detail pane leaves.
func (a *activity) listWidth() int {
	lw, _, _ := paneWidths(a.width)
	return lw
}

func (a *activity) SetSize(width, height int) {
	a.width, a.height = width, height
	a.detail.setSize(width, height)
	a.win.setHeight(a.rows() - 1)
	a.filter.setWidth(a.listWidth() / 2)
}

// filtered reports whether a filter hides events.
func (a *activity) filtered() bool { return a.failures || a.filter.query != "" }

func (a *activity) KeyMap() help.KeyMap {
	km := a.d.keys
	switch {
	case a.filter.active:
		back, done := km.Back, km.Open
		back.SetHelp("esc", "clear filter")
		done.SetHelp("enter", "keep filter")
		return keyHelp{short: []key.Binding{done, back}}
	case a.detail.open:
		prev, next := km.Up, km.Down
		prev.SetHelp("↑/k", "newer event")
		next.SetHelp("↓/j", "older event")
		return keyHelp{short: []key.Binding{km.Back, prev, next}, full: [][]key.Binding{{km.Back, prev, next, km.PageUp, km.PageDown}}}
	}
	fails := km.Failures
	if a.failures {
		fails.SetHelp("f", "all outcomes")
	}
	// Short enough for 80 columns with ? and q after it; the full help lists the movement keys.
	return keyHelp{short: []key.Binding{km.Filter, fails, km.Open},
		full: [][]key.Binding{{km.Filter, fails, km.Open, km.Back}, km.nav()}}
}

func (a *activity) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case pollMsg:
		if msg.Err != nil {
			return nil // the feed reports it
		}
		fresh := slices.Clone(msg.Events)
		slices.Reverse(fresh)
		if msg.Initial {
			a.events, a.noOlder = fresh, len(fresh) < historySize
			return a.reshow()
		}
		if len(fresh) == 0 {
			return nil
		}
		a.events = append(fresh, a.events...)
		if len(a.events) > keepEvents {
			a.events, a.noOlder = a.events[:keepEvents], false
		}
		return a.reshow()
	case olderEventsMsg:
		a.olderLoading = false
		if msg.Err != nil {
			return reportErr("Reading older events", msg.Err)
		}
		a.events = append(a.events, msg.Events...)
		a.noOlder = len(msg.Events) < pageSize
		return a.reshow()
	case debounceMsg:
		if a.filter.settled(msg) {
			return a.reshow()
		}
	case tabShownMsg, tabLeftMsg:
		a.win.watched = msg == tea.Msg(tabShownMsg{})
	case tea.KeyPressMsg:
		a.win.watched = true // keys reach a tab only while it is shown
		return a.key(msg)
	case tea.PasteMsg:
		if a.filter.active {
			_, cmd := a.filter.update(msg)
			return cmd
		}
	}
	return nil
}

// reshow applies the filters to the events held, keeping the cursor on the event it was
// on. At the top of the list the cursor stays on its event too while the tab is shown: new
// events appear above it, and enter still opens the one the admin chose.
func (a *activity) reshow() tea.Cmd {
	was := a.win.keptKey(eventKey)
	a.shown = a.events
	if a.filtered() {
		match := eventMatcher(a.filter.query, a.failures)
		a.shown = make([]db.Event, 0, len(a.events))
		for _, e := range a.events {
			if match(e) {
				a.shown = append(a.shown, e)
			}
		}
	}
	a.win.apply(0, a.shown, len(a.shown))
	a.win.follow(eventKey, was)
	return a.more()
}

// more reads the page of older events when the cursor nears the end of what is shown, or
// when a filter leaves less than a screenful and older events may match (up to keepEvents).
func (a *activity) more() tea.Cmd {
	if a.noOlder || a.olderLoading || len(a.events) == 0 {
		return nil
	}
	near := a.win.cursor >= len(a.shown)-a.rows()
	if a.filtered() && len(a.events) >= keepEvents {
		return nil // the filter searches what is held; the footer says how much that is
	}
	if !near {
		return nil
	}
	a.olderLoading = true
	return olderEvents(a.d, a.events[len(a.events)-1].ID)
}

func eventKey(e db.Event) string { return strconv.FormatInt(e.ID, 10) }

func (a *activity) key(k tea.KeyPressMsg) tea.Cmd {
	km := a.d.keys
	if a.filter.active {
		_, cmd := a.filter.update(k)
		return cmd
	}
	if a.detail.open {
		switch {
		case key.Matches(k, km.Up), key.Matches(k, km.Down):
			// Step to the next event without going back to the list.
			if key.Matches(k, km.Up) {
				a.win.move(-1)
			} else {
				a.win.move(1)
			}
			if e, ok := a.win.selected(); ok && e.ID != a.detailID {
				a.detailID = e.ID
				title, lines := eventDetail(a.d.styles, e, a.width)
				a.detail.show(a.position(title), lines)
			}
			return a.more()
		}
		_, cmd := a.detail.update(k)
		return cmd
	}
	switch {
	case key.Matches(k, km.Filter):
		return a.filter.open()
	case key.Matches(k, km.Failures):
		a.failures = !a.failures
		return a.reshow()
	case key.Matches(k, km.Back):
		if a.filter.input.Value() != "" {
			a.filter.input.SetValue("")
			return a.filter.changed()
		}
		return nil
	case key.Matches(k, km.Open):
		if e, ok := a.win.selected(); ok {
			a.detailID = e.ID
			title, lines := eventDetail(a.d.styles, e, a.width)
			a.detail.show(a.position(title), lines)
		}
		return nil
	}
	navigate(km, k, a.win.move, a.win.moveTo, a.win.total, a.win.height)
	return a.more()
}

// position adds where the event is in the list to a detail page's title.
func (a *activity) position(title string) string {
	return title + a.d.styles.Dim.Render(" · event "+commas(a.win.cursor+1)+" of "+commas(a.win.total)+" · ↑↓ step")
}

func (a *activity) View() string {
	st := a.d.styles
	if a.detail.open {
		return a.detail.view()
	}
	if !a.win.loaded {
		return st.Dim.Render("reading the audit log…")
	}
	lw, pw, wide := paneWidths(a.width)
	list := a.listView(lw)
	if !wide {
		return list
	}
	pane := st.Dim.Render("no event selected")
	if e, ok := a.win.selected(); ok {
		_, lines := eventDetail(st, e, pw)
		pane = paneView(eventTitle(st, e), lines)
	}
	return beside(st, list, lw, pane, pw, a.height)
}

// listView is the heading with the filters, the events and the footer, width wide.
func (a *activity) listView(width int) string {
	st := a.d.styles
	head := st.Heading.Render("Audit log") + st.Dim.Render(" · newest first · live")
	if a.failures {
		head += st.Fail.Render(" · ✗ failures only")
	}
	if a.win.top > 0 {
		// The cursor keeps its event while new ones arrive above: say they are there.
		head += st.Accent.Render(" · ↑ " + commas(a.win.top) + " newer (g)")
	}
	filter := a.filter.view(width / 2)
	if !a.filter.active && a.filter.input.Value() == "" {
		filter = st.Dim.Render("/ filter · f failures only")
		if a.failures {
			filter = st.Dim.Render("/ filter · f all outcomes")
		}
	}
	head = spread(head, filter, width)
	cols := eventColumns(width)
	if len(a.shown) == 0 {
		if a.filtered() {
			return head + "\n" + table(st, cols, width, a.rows(), 0, 0, 0, nil) + "\n" +
				st.Dim.Render(strings.Repeat(" ", gutter)+"no events match") + "\n\n" +
				hangJoin(st.Dim.Render(a.searched()+" esc clears the filter; f shows every outcome."), width)
		}
		return head + "\n" + table(st, cols, width, a.rows(), 0, 0, 0, nil) + "\n" +
			st.Dim.Render(strings.Repeat(" ", gutter)+"no events yet") + "\n\n" +
			hangJoin(st.Dim.Render("Every SCIM request that changes something, every refused token, every connection test and every admin action appears here, live."), width)
	}
	now := a.d.now()
	body := table(st, cols, width, a.rows(), a.win.total, a.win.top, a.win.cursor, func(i int) ([]cell, bool) {
		e, ok := a.win.at(i)
		if !ok {
			return nil, false
		}
		style := st.Value
		if e.Failed() {
			style = st.Fail
		}
		return []cell{{Text: when(now, e.At), Style: st.Dim}, {Text: idpOf(e.Agent), Style: style}, {Text: actionOf(e), Style: style},
			{Text: firstNonEmpty(e.Subject, e.Summary), Style: style}, outcomeCell(st, e),
			{Text: firstNonEmpty(e.TokenID, "—"), Style: st.Dim}, {Text: e.Summary, Style: st.Dim}}, true
	})
	foot := ""
	if e, ok := a.win.selected(); ok && e.Summary != "" {
		foot = st.Dim.Render(strings.TrimRight(fit(clean(e.Summary), width, false), " ")) // enter shows it whole
	}
	if a.filtered() {
		foot = st.Dim.Render(strings.TrimRight(fit(commas(len(a.shown))+" match · "+a.searched(), width, false), " "))
	}
	if a.olderLoading {
		foot = st.Dim.Render("reading older events…")
	}
	return head + "\n" + block(body, width, a.rows()) + "\n" + foot
}

// searched says how much of the audit log the filter has looked through.
func (a *activity) searched() string {
	if a.noOlder {
		return "Searched the whole audit log (" + plural(len(a.events), "event", "events") + ")."
	}
	return "Searched the newest " + plural(len(a.events), "event", "events") + "."
}

// when is an event's time: the time alone today, with the date before.
func when(now, t time.Time) string {
	lt, ln := t.Local(), now.Local()
	switch {
	case lt.YearDay() == ln.YearDay() && lt.Year() == ln.Year():
		return lt.Format("15:04:05")
	case lt.Year() == ln.Year():
		return lt.Format("Jan 02 15:04")
	}
	return lt.Format("2006-01-02")
}

// actionOf is what an event did, in the admin's words: a PATCH or PUT that switched a
// user's active flag is a deactivation (or reactivation), whatever request carried it.
func actionOf(e db.Event) string {
	if e.Kind == "user.patch" || e.Kind == "user.replace" {
		switch {
		case strings.HasPrefix(e.Summary, "deactivated user"), strings.HasSuffix(e.Summary, "(deactivated)"):
			return "user.deactivate"
		case strings.HasPrefix(e.Summary, "reactivated user"), strings.HasSuffix(e.Summary, "(reactivated)"):
			return "user.reactivate"
		}
	}
	return e.Kind
}

// eventMatcher is the activity filter: every word of query must start a word of the
// event's action, kind, subject, summary, outcome, status, token, identity provider, user
// agent or address (case-insensitive), so that "ken" finds ken@example.com and not every
// "token"; failuresOnly drops events that succeeded.
func eventMatcher(query string, failuresOnly bool) func(db.Event) bool {
	words := strings.Fields(strings.ToLower(query))
	return func(e db.Event) bool {
		if failuresOnly && !e.Failed() {
			return false
		}
		if len(words) == 0 {
			return true
		}
		outcome := "ok"
		if e.Failed() {
			outcome = "fail failed failure"
		}
		hay := strings.ToLower(strings.Join([]string{actionOf(e), e.Kind, e.Subject, e.Summary, outcome, strconv.Itoa(e.Status),
			e.TokenID, idpOf(e.Agent), e.Agent, e.Addr}, "\x00"))
		for _, w := range words {
			if !startsWord(hay, w) {
				return false
			}
		}
		return true
	}
}

// startsWord reports whether w occurs in s at the start of a word: at the start of s, or
// after a character that is neither a letter nor a digit.
func startsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		at := i + j
		if at == 0 || !isWordByte(s[at-1]) {
			return true
		}
		i = at + 1
	}
	return false
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c >= 0x80
}

// outcomeCell says how an event ended, in words and a symbol as well as colour.
func outcomeCell(st *styles, e db.Event) cell {
	code := ""
	if e.Status != 0 {
		code = " " + strconv.Itoa(e.Status)
	}
	if e.Failed() {
		return cell{Text: "✗ fail" + code, Style: st.Fail}
	}
	return cell{Text: "✓ ok" + code, Style: st.OK}
}

// eventTitle is an event's action and outcome, as a detail page's title.
func eventTitle(st *styles, e db.Event) string {
	out := outcomeCell(st, e)
	return st.Heading.Render(actionOf(e)) + "  " + out.Style.Render(out.Text)
}

// eventDetail is the detail page of an event.
func eventDetail(st *styles, e db.Event, width int) (string, []string) {
	out := outcomeCell(st, e)
	title := eventTitle(st, e) + st.Dim.Render("   esc back")
	pairs := [][2]string{
		{"Time", stamp(e.At)},
		{"Action", actionOf(e)},
		{"Outcome", strings.TrimPrefix(strings.TrimPrefix(out.Text, "✗ "), "✓ ")},
		{"Subject", firstNonEmpty(e.Subject, "—")},
		{"Summary", firstNonEmpty(e.Summary, "—")},
		{"Client", idpOf(e.Agent)},
		{"User agent", firstNonEmpty(e.Agent, "—")},
		{"Address", firstNonEmpty(e.Addr, "—")},
		{"Token", firstNonEmpty(e.TokenID, "—")},
		{"Event", "#" + strconv.FormatInt(e.ID, 10) + " (" + e.Kind + ")"},
	}
	if isAdminActor(e.Agent) {
		// An admin action: the agent is who acted and where (an SSH key, a local user).
		pairs[5] = [2]string{"Client", adminWhere(e.Agent)}
		pairs[6] = [2]string{"Admin", e.Agent}
	}
	return title, fields(st, pairs, width, 8) // a failure's summary says what to do: room for it
}
