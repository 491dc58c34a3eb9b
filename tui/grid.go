package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
)

// A small table renderer for the console's lists. The bubbles table wants all its rows;
// these lists are windows over up to 100,000 rows held partly in memory, so they render
// only the visible rows, straight from the window.

// column describes one column: its title, the width it needs, and how much of the spare
// width it takes (0: none).
type column struct {
	Title string
	Min   int
	Flex  int
	Right bool
}

// cell is one value with its style (the zero style prints it plain).
type cell struct {
	Text  string
	Style lipgloss.Style
}

// gutter is the space before each row where the cursor mark goes; it keeps the selected
// row visible where reverse video is lost (plain-text screen captures).
const gutter = 2

// colWidths shares width among the columns: each gets its minimum, flexible ones share
// the rest; when even the minimums do not fit, flexible columns shrink, then the last
// columns are dropped (width 0).
func colWidths(cols []column, width int) []int {
	out := make([]int, len(cols))
	avail := width - gutter - (len(cols) - 1)
	need, flex := 0, 0
	for i, c := range cols {
		out[i] = c.Min
		need += c.Min
		flex += c.Flex
	}
	spare := avail - need
	if spare >= 0 {
		given := 0
		last := -1
		for i, c := range cols {
			if c.Flex > 0 {
				add := spare * c.Flex / flex
				out[i] += add
				given += add
				last = i
			}
		}
		if last >= 0 {
			out[last] += spare - given
		}
		return out
	}
	// Too narrow: shrink flexible columns down to 6 cells, then drop from the right.
	for i := range cols {
		if spare >= 0 {
			break
		}
		if cols[i].Flex > 0 && out[i] > 6 {
			cut := min(out[i]-6, -spare)
			out[i] -= cut
			spare += cut
		}
	}
	for i := len(cols) - 1; i > 0 && spare < 0; i-- {
		spare += out[i] + 1
		out[i] = 0
	}
	return out
}

// table renders the column titles and the rows first..first+height-2 of a list of n rows.
// row returns the cells of row i, or false if that row is not in memory yet.
func table(st *styles, cols []column, width, height, n, first, cursor int, row func(i int) ([]cell, bool)) string {
	if height <= 0 {
		return ""
	}
	ws := colWidths(cols, width)
	var b strings.Builder
	head := make([]string, 0, len(cols))
	for i, c := range cols {
		if ws[i] > 0 {
			head = append(head, fit(c.Title, ws[i], c.Right))
		}
	}
	b.WriteString(st.ColHeader.Render(strings.Repeat(" ", gutter) + strings.Join(head, " ")))
	for i := first; i < n && i < first+height-1; i++ {
		b.WriteByte('\n')
		cells, ok := row(i)
		if !ok {
			b.WriteString(st.Dim.Render(strings.Repeat(" ", gutter) + "…"))
			continue
		}
		parts := make([]string, 0, len(cols))
		for j, c := range cols {
			if ws[j] == 0 || j >= len(cells) {
				continue
			}
			text := fit(clean(cells[j].Text), ws[j], c.Right)
			if i != cursor {
				text = cells[j].Style.Render(text)
			}
			parts = append(parts, text)
		}
		if i == cursor {
			// One style over the whole plain line: a styled cell inside would end the
			// reverse video half-way.
			b.WriteString(st.Selected.Render("› " + strings.Join(parts, " ")))
		} else {
			b.WriteString(strings.Repeat(" ", gutter) + strings.Join(parts, " "))
		}
	}
	return b.String()
}
