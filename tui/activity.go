package tui

import (
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// activity is tab 5: the audit log, newest first and live. New events arrive through
// the feed's polls; older ones are read a page at a time when the cursor reaches the end.
type activity struct {
	d             *deps
	width, height int
	events        []db.Event       // newest first
	win           window[db.Event] // over events
	olderLoading  bool
	noOlder       bool
	detail        detail
	detailID      int64
}

// keepEvents bounds the events held in memory; older ones are read again on demand.
const keepEvents = 2000

var eventCols = []column{
	{Title: "TIME", Min: 8},
	{Title: "IDP", Min: 6},
	{Title: "ACTION", Min: 15},
	{Title: "SUBJECT", Min: 10, Flex: 1},
	{Title: "OUTCOME", Min: 10},
}

func newActivity(d *deps) *activity {
	return &activity{d: d, win: newWindow[db.Event](), detail: newDetail(d)}
}

func (a *activity) Title() string   { return "Activity" }
func (a *activity) Init() tea.Cmd   { return nil } // the feed's first poll brings the history
func (a *activity) Capturing() bool { return false }
func (a *activity) rows() int       { return max(1, a.height-3) } // heading, titles, footer

func (a *activity) SetSize(width, height int) {
	a.width, a.height = width, height
	a.detail.setSize(width, height)
	a.win.setHeight(a.rows() - 1)
}

func (a *activity) KeyMap() help.KeyMap {
	km := a.d.keys
	if a.detail.open {
		return keyHelp{short: []key.Binding{km.Back, km.Up, km.Down}}
	}
	return keyHelp{short: []key.Binding{km.Open, km.Up, km.Down, km.Top}, full: [][]key.Binding{{km.Open, km.Back}, km.nav()}}
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
			a.win.apply(0, a.events, len(a.events))
			return nil
		}
		if len(fresh) == 0 {
			return nil
		}
		// Keep the selected event selected; at the top, follow the newest.
		if a.win.cursor > 0 {
			a.win.cursor += len(fresh)
			a.win.top += len(fresh)
		}
		a.events = append(fresh, a.events...)
		if len(a.events) > keepEvents {
			a.events, a.noOlder = a.events[:keepEvents], false
		}
		a.win.apply(0, a.events, len(a.events))
	case olderEventsMsg:
		a.olderLoading = false
		if msg.Err != nil {
			return reportErr("Reading older events", msg.Err)
		}
		a.events = append(a.events, msg.Events...)
		a.noOlder = len(msg.Events) < pageSize
		a.win.apply(0, a.events, len(a.events))
	case tea.KeyPressMsg:
		return a.key(msg)
	}
	return nil
}

func (a *activity) key(k tea.KeyPressMsg) tea.Cmd {
	km := a.d.keys
	if a.detail.open {
		_, cmd := a.detail.update(k)
		return cmd
	}
	if key.Matches(k, km.Open) {
		if e, ok := a.win.selected(); ok {
			a.detailID = e.ID
			a.detail.show(eventDetail(a.d.styles, e, a.width))
		}
		return nil
	}
	navigate(km, k, a.win.move, a.win.moveTo, a.win.total, a.win.height)
	// Near the end of what is held: read the page before it.
	if a.win.cursor >= len(a.events)-a.rows() && !a.noOlder && !a.olderLoading && len(a.events) > 0 {
		a.olderLoading = true
		return olderEvents(a.d, a.events[len(a.events)-1].ID)
	}
	return nil
}

func (a *activity) View() string {
	st := a.d.styles
	if a.detail.open {
		return a.detail.view()
	}
	if !a.win.loaded {
		return st.Dim.Render("reading the audit log…")
	}
	head := st.Heading.Render("Audit log") + st.Dim.Render(" · newest first · live")
	if len(a.events) == 0 {
		return head + "\n" + table(st, eventCols, a.width, a.rows(), 0, 0, 0, nil) + "\n" +
			st.Dim.Render(strings.Repeat(" ", gutter)+"no events yet") + "\n\n" +
			hangJoin(st.Dim.Render("Every SCIM request that changes something, every refused token and every admin action appears here, live."), a.width)
	}
	now := a.d.now()
	body := table(st, eventCols, a.width, a.rows(), a.win.total, a.win.top, a.win.cursor, func(i int) ([]cell, bool) {
		e, ok := a.win.at(i)
		if !ok {
			return nil, false
		}
		style := st.Value
		if e.Failed() {
			style = st.Fail
		}
		return []cell{{Text: clock(now, e.At), Style: st.Dim}, {Text: idpOf(e.Agent), Style: style}, {Text: e.Kind, Style: style},
			{Text: firstNonEmpty(e.Subject, e.Summary), Style: style}, outcomeCell(st, e)}, true
	})
	foot := ""
	if e, ok := a.win.selected(); ok && e.Summary != "" {
		foot = st.Dim.Render(strings.TrimRight(fit(clean(e.Summary), a.width, false), " ")) // enter shows it whole
	}
	if a.olderLoading {
		foot = st.Dim.Render("reading older events…")
	}
	return head + "\n" + block(body, a.width, a.rows()) + "\n" + foot
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

// eventDetail is the detail page of an event.
func eventDetail(st *styles, e db.Event, width int) (string, []string) {
	out := outcomeCell(st, e)
	title := st.Heading.Render(e.Kind) + "  " + out.Style.Render(out.Text) + st.Dim.Render("   esc back")
	pairs := [][2]string{
		{"Time", stamp(e.At)},
		{"Action", e.Kind},
		{"Outcome", strings.TrimPrefix(strings.TrimPrefix(out.Text, "✗ "), "✓ ")},
		{"Subject", firstNonEmpty(e.Subject, "—")},
		{"Summary", firstNonEmpty(e.Summary, "—")},
		{"Client", idpOf(e.Agent)},
		{"User agent", firstNonEmpty(e.Agent, "—")},
		{"Address", firstNonEmpty(e.Addr, "—")},
		{"Token", firstNonEmpty(e.TokenID, "—")},
		{"Event", "#" + strconv.FormatInt(e.ID, 10)},
	}
	return title, fields(st, pairs, width, 8) // a failure's summary says what to do: room for it
}
