package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
)

// detail is a scrollable page about one thing (a user, an event, a token): a title line
// and label/value lines. esc closes it.
type detail struct {
	d     *deps
	open  bool
	title string
	vp    viewport.Model
}

func newDetail(d *deps) detail {
	vp := viewport.New()
	vp.SoftWrap = true // for what fields did not wrap itself (long JSON strings)
	return detail{d: d, vp: vp}
}

// show opens the page with these lines (from fields and friends).
func (v *detail) show(title string, lines []string) {
	v.open, v.title = true, title
	v.vp.SetContentLines(lines)
	v.vp.GotoTop()
}

// replace changes the content of an open page without scrolling back up (live refresh).
func (v *detail) replace(title string, lines []string) {
	v.title = title
	y := v.vp.YOffset()
	v.vp.SetContentLines(lines)
	v.vp.SetYOffset(y)
}

// setSize fits the page: the title and a blank line take two lines.
func (v *detail) setSize(width, height int) {
	v.vp.SetWidth(width)
	v.vp.SetHeight(max(1, height-2))
}

// update scrolls, or closes on esc; it reports whether it closed.
func (v *detail) update(msg tea.Msg) (closed bool, cmd tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok && key.Matches(k, v.d.keys.Back) {
		v.open = false
		return true, nil
	}
	v.vp, cmd = v.vp.Update(msg)
	return false, cmd
}

// view is the title line and the visible part of the page.
func (v *detail) view() string {
	return v.title + "\n\n" + v.vp.View()
}

// fieldLines is the most lines one value of a user's page takes: a huge value is cut with
// an ellipsis, so that the fields after it (status, ID, groups) stay on the first screen.
const fieldLines = 3

// fields aligns label/value pairs in two columns, wrapping values under themselves in at
// most maxLines lines each; a pair with an empty label continues the value above, and one
// with an empty value is a heading.
func fields(st *styles, pairs [][2]string, width, maxLines int) []string {
	w := 0
	for _, p := range pairs {
		if p[1] != "" {
			w = max(w, len(p[0]))
		}
	}
	out := make([]string, 0, len(pairs))
	for _, p := range pairs {
		switch {
		case p[1] == "" && p[0] == "":
			out = append(out, "")
		case p[1] == "":
			out = append(out, st.Heading.Render(p[0]))
		default:
			out = append(out, hangClip(st.Label.Render(p[0]+strings.Repeat(" ", w-len(p[0])))+"  ", clean(p[1]), width, maxLines)...)
		}
	}
	return out
}

// rawLines is the most lines one line of raw JSON takes on a detail page; the rest of a
// huge value is cut with an ellipsis (the API still returns it whole).
const rawLines = 40

// raw is a line of raw text (JSON) for a detail page: indented, broken at the width
// wherever it falls (wrapping by words would misplace JSON's indentation), and cut after
// rawLines lines. The viewport's own soft wrap is no help here: it cuts a long line
// from its start again for each screen line, which a megabyte line turns into seconds.
func raw(text string, width int) []string {
	const indent = "  "
	w := max(10, width-len(indent))
	text = clean(text)
	cut := false
	if ansi.StringWidth(text) > w*rawLines {
		text, cut = ansi.Truncate(text, w*rawLines-1, ""), true
	}
	lines := strings.Split(ansi.Hardwrap(text, w, true), "\n")
	for i := range lines {
		lines[i] = indent + lines[i]
	}
	if cut {
		lines[len(lines)-1] += "…"
	}
	return lines
}
