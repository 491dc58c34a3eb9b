package tui

import (
	"context"
	"strings"

	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// pageMsg is one page of a long list. Owner names the list that asked and Seq its
// request, so late answers and answers meant for another list are dropped.
type pageMsg[T any] struct {
	Owner  string
	Seq    int
	Offset int
	Rows   []T
	Total  int
	Counts *db.StatusCounts // users only, with the first page of a (re)load
	Err    error
}

type (
	usersMsg  = pageMsg[db.User]
	groupsMsg = pageMsg[db.Group]
)

// loader starts reading one page of a list under ctx; fresh asks for the extras that come
// with a (re)load (the counts per status).
type loader func(ctx context.Context, w db.Where, owner string, seq, offset int, fresh bool) tea.Cmd

// paged is a long list read from the database a page at a time (users, a group's
// members, groups). Its requests are numbered and each one cancels the one before, so
// fast scrolling or typing never piles up queries or shows a stale page.
type paged[T any] struct {
	d       *deps
	owner   string
	what    string // "users", "groups": for error lines
	load    loader
	key     func(T) string // a row's identity: the cursor follows the row, not its number
	where   db.Where
	win     window[T]
	counts  *db.StatusCounts
	seq     int
	cancel  context.CancelFunc
	loading bool
	dirty   bool // something changed while a request was out: read again when it lands
	err     error
	// follow is the key of the row selected when a reload went out: when rows arrive
	// above it (a user provisioned while the admin looks), the cursor goes back to that
	// row, so that enter or i never acts on the row that took its place. chased says the
	// row was not in the reloaded page and one more page, where it must have gone, was read.
	follow string
	chased bool
}

func newPaged[T any](d *deps, owner, what string, load loader, key func(T) string) *paged[T] {
	return &paged[T]{d: d, owner: owner, what: what, load: load, key: key, win: newWindow[T]()}
}

// request reads the page at offset, cancelling the request before it.
func (p *paged[T]) request(offset int, fresh bool) tea.Cmd {
	if p.cancel != nil {
		p.cancel()
	}
	var ctx context.Context
	ctx, p.cancel = context.WithCancel(p.d.ctx)
	p.seq++
	p.loading = true
	return p.load(ctx, p.where, p.owner, p.seq, offset, fresh)
}

// query starts the list over for a new condition.
func (p *paged[T]) query(w db.Where) tea.Cmd {
	p.where = w
	p.win.reset()
	p.follow = ""
	return p.request(0, true)
}

// refresh reads the rows on screen again (after a change), keeping the cursor.
func (p *paged[T]) refresh() tea.Cmd {
	if p.loading {
		p.dirty = true
		return nil
	}
	return p.reload()
}

// reload reads the rows on screen again, to put the cursor back on the row selected now.
func (p *paged[T]) reload() tea.Cmd {
	p.follow, p.chased = p.win.keptKey(p.key), false
	return p.request(p.win.reloadOffset(), true)
}

// handle takes this list's answers; it reports whether msg was one (and current).
func (p *paged[T]) handle(msg pageMsg[T]) (bool, tea.Cmd) {
	if msg.Owner != p.owner || msg.Seq != p.seq {
		return false, nil
	}
	p.loading = false
	p.err = msg.Err
	if msg.Err != nil {
		return true, reportErr("Reading "+p.what, msg.Err)
	}
	if msg.Counts != nil {
		p.counts = msg.Counts
	}
	before := p.win.total
	p.win.apply(msg.Offset, msg.Rows, msg.Total)
	if p.follow != "" {
		switch {
		case p.win.follow(p.key, p.follow):
			p.follow = ""
		case !p.chased && msg.Total != before:
			// Rows came or went before it, more than the page holds: read the page where
			// it must be now.
			p.chased = true
			at := p.win.cursor + msg.Total - before
			return true, p.request(max(0, min(at-pageSize/2, msg.Total-pageSize)), false)
		default:
			p.follow = "" // gone: the cursor keeps its row number
		}
	}
	if p.dirty {
		p.dirty = false
		return true, p.reload()
	}
	return true, p.more()
}

// more reads the next page if the view came near the edge of the rows in memory.
func (p *paged[T]) more() tea.Cmd {
	if off, ok := p.win.want(); ok {
		return p.request(off, false)
	}
	return nil
}

// navigate moves the cursor for a movement key; it reports whether k was one.
func (p *paged[T]) navigate(k tea.KeyPressMsg) (bool, tea.Cmd) {
	if !navigate(p.d.keys, k, p.win.move, p.win.moveTo, p.win.total, p.win.height) {
		return false, nil
	}
	if p.follow != "" { // a reload is out: the admin's choice is the row to come back to
		p.follow = p.win.keptKey(p.key)
	}
	return true, p.more()
}

// view renders the column titles and the visible rows, or why there are none: empty
// ("no users match") when the list is read and holds nothing.
func (p *paged[T]) view(cols []column, width, height int, empty string, cells func(T) []cell) string {
	st := p.d.styles
	if p.win.total == 0 {
		switch {
		case p.err != nil:
			return st.Fail.Render("✗ could not read the " + p.what + " (see the status line)")
		case !p.win.loaded:
			return st.Dim.Render("reading " + p.what + "…")
		}
		return table(st, cols, width, height, 0, 0, 0, nil) + "\n" + st.Dim.Render(strings.Repeat(" ", gutter)+empty)
	}
	return table(st, cols, width, height, p.win.total, p.win.top, p.win.cursor, func(i int) ([]cell, bool) {
		row, ok := p.win.at(i)
		if !ok {
			return nil, false
		}
		return cells(row), true
	})
}

// position is "row 3 of 1,234", with a note while a page is on its way.
func (p *paged[T]) position() string {
	s := "row " + commas(p.win.cursor+1) + " of " + commas(p.win.total)
	if p.loading {
		s += " · reading…"
	}
	return s
}
