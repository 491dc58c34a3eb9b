package tui

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Copying. The console copies with OSC 52: the terminal that draws the console puts the
// text on its clipboard, through SSH and through tmux. Nothing comes back to say it
// worked, so the status line never says "Copied": it says where the text was sent, and,
// inside tmux, whether tmux passes it on at all. Stock tmux (set-clipboard external)
// drops OSC 52 from programs; only set-clipboard on forwards it.

// tmuxAsk bounds the question put to tmux: a hung tmux must not hold the status line.
const tmuxAsk = 2 * time.Second

// copyText sends value to the clipboard and reports honestly what became of it; what
// names the value in the report ("the secret", "the SCIM URL").
func copyText(d *deps, what, value string) tea.Cmd {
	return tea.Batch(tea.SetClipboard(value), clipboardReport(d, what))
}

// clipboardReport says where the copy went, on the status line.
func clipboardReport(d *deps, what string) tea.Cmd {
	if d.tmux == "" { // nothing to ask: no need for a goroutine
		return report(clipboardVerdict(d.ctx, "", what))
	}
	return func() tea.Msg {
		l, text := clipboardVerdict(d.ctx, d.tmux, what)
		return statusMsg{Level: l, Text: text}
	}
}

// clipboardVerdict is what may be said of a copy sent with OSC 52. Outside tmux (tmuxEnv
// "") it was sent to the terminal, which may or may not honour it; inside tmux, tmux is
// asked whether it forwards it (set-clipboard on), and when it does not (external, the
// default, or off), the line says it was not copied and how to fix that.
func clipboardVerdict(ctx context.Context, tmuxEnv, what string) (level, string) {
	// One status line: short enough for 80 columns with the longest what.
	if tmuxEnv == "" {
		return levelInfo, "Sent " + what + " to your terminal's clipboard (OSC 52); not confirmed."
	}
	mode, err := tmuxSetClipboard(ctx, tmuxEnv)
	switch {
	case err != nil:
		return levelInfo, "Sent " + what + " with OSC 52; tmux forwards it only with set-clipboard on."
	case mode == "on":
		return levelInfo, "Sent " + what + " via tmux (set-clipboard on) to your terminal's clipboard."
	}
	return levelErr, "Not copied: tmux drops OSC 52 here. Run: tmux set -g set-clipboard on"
}

// tmuxSetClipboard asks the tmux server that $TMUX (tmuxEnv) names for its set-clipboard
// option: on, external or off.
func tmuxSetClipboard(ctx context.Context, tmuxEnv string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, tmuxAsk)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tmux", "show-options", "-gv", "set-clipboard")
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TMUX=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "TMUX="+tmuxEnv)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			return "", errorText(strings.TrimSpace(string(ee.Stderr)))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// errorText is an error made of what a tool printed.
type errorText string

func (e errorText) Error() string { return string(e) }
