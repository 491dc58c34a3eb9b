package tui

// window is the part of a long list that is in memory: one page of rows around the cursor,
// read from the database as the cursor moves, plus the list's total length. The console
// never loads a whole list, so a list of 100,000 users costs the same as one of 100.
type window[T any] struct {
	rows    []T
	offset  int // list index of rows[0]
	total   int
	cursor  int // list index of the selected row
	top     int // list index of the first visible row
	height  int // rows visible at once
	loaded  bool
	pending int // offset of the page asked for and not yet arrived; -1: none
	// watched is set while the list is on screen. Rows arriving above the cursor keep it
	// on its row (by id) so that enter never acts on someone else; while nobody looks, a
	// cursor on the first row stays there, so the list opens on the newest rows.
	watched bool
}

// margin is how close to the edge of the rows in memory the view may come before the
// next page is read, so that scrolling line by line never shows a row still loading.
const margin = 50

func newWindow[T any]() window[T] { return window[T]{pending: -1, height: 1} }

// at returns row i of the list if it is in memory.
func (w *window[T]) at(i int) (T, bool) {
	j := i - w.offset
	if j < 0 || j >= len(w.rows) {
		var zero T
		return zero, false
	}
	return w.rows[j], true
}

// selected returns the row under the cursor, if it is in memory.
func (w *window[T]) selected() (T, bool) {
	if w.total == 0 {
		var zero T
		return zero, false
	}
	return w.at(w.cursor)
}

// setHeight sets how many rows are visible and keeps the cursor in view.
func (w *window[T]) setHeight(h int) {
	w.height = max(1, h)
	w.scroll()
}

// move moves the cursor by delta rows, within the list.
func (w *window[T]) move(delta int) { w.moveTo(w.cursor + delta) }

// moveTo puts the cursor on row i, within the list.
func (w *window[T]) moveTo(i int) {
	w.cursor = max(0, min(i, w.total-1))
	w.scroll()
}

// scroll keeps the cursor between top and top+height.
func (w *window[T]) scroll() {
	w.cursor = max(0, min(w.cursor, w.total-1))
	if w.cursor < w.top {
		w.top = w.cursor
	}
	if w.cursor >= w.top+w.height {
		w.top = w.cursor - w.height + 1
	}
	w.top = max(0, min(w.top, w.total-w.height))
}

// want reports the offset of the page to read so that the rows around the view are in
// memory, or false when they already are (or that page is already on its way).
func (w *window[T]) want() (int, bool) {
	if !w.loaded || w.total == 0 {
		return 0, false
	}
	lo, hi := max(0, w.top-margin), min(w.total, w.top+w.height+margin)
	if lo >= w.offset && hi <= w.offset+len(w.rows) {
		return 0, false
	}
	off := max(0, min(w.cursor-pageSize/2, w.total-pageSize))
	if off == w.pending {
		return 0, false
	}
	w.pending = off
	return off, true
}

// apply takes a page read from the database.
func (w *window[T]) apply(offset int, rows []T, total int) {
	w.rows, w.offset, w.total, w.loaded, w.pending = rows, offset, total, true, -1
	w.scroll()
}

// follow puts the cursor on the row whose key is k, if that row is in memory. A list
// scrolled to its start stays there, so rows that arrive above the cursor show; a list
// scrolled further scrolls with the row, which stays on its screen line. It reports whether
// the row was found.
func (w *window[T]) follow(key func(T) string, k string) bool {
	if k == "" {
		return false
	}
	for j, row := range w.rows {
		if key(row) == k {
			moved := w.offset + j - w.cursor
			w.cursor += moved
			if w.top > 0 {
				w.top += moved
			}
			w.scroll()
			return true
		}
	}
	return false
}

// keptKey is the key of the row the cursor must stay on when the rows change: the
// selected row, or "" (keep the row number) for a list nobody looks at whose cursor is on
// its first row.
func (w *window[T]) keptKey(key func(T) string) string {
	if !w.watched && w.cursor == 0 {
		return ""
	}
	return w.selectedKey(key)
}

// selectedKey is the key of the row under the cursor, or "" when it is not in memory.
func (w *window[T]) selectedKey(key func(T) string) string {
	if row, ok := w.selected(); ok {
		return key(row)
	}
	return ""
}

// reset forgets the rows, for a new query: the cursor goes back to the top.
func (w *window[T]) reset() {
	w.rows, w.offset, w.cursor, w.top, w.pending = nil, 0, 0, 0, -1
}

// reloadOffset is the page to read again to refresh what is on screen.
func (w *window[T]) reloadOffset() int {
	if !w.loaded {
		return 0
	}
	return w.offset
}
