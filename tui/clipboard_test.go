package tui

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/internal/testtool"
)

// startTmux runs a tmux server of its own (its own socket, no config file) until the test
// ends, and returns a function that runs tmux commands against it and the value $TMUX has
// inside it.
func startTmux(t *testing.T) (tmux func(args ...string) string, env string) {
	t.Helper()
	testtool.NeedTmux(t)
	socket := fmt.Sprintf("scimdesk-clip-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	tmux = func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-L", socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	tmux("new-session", "-d", "-s", "clip", "-x", "80", "-y", "24")
	t.Cleanup(func() { exec.Command("tmux", "-L", socket, "kill-server").Run() })
	return tmux, tmux("display-message", "-p", "#{socket_path},#{pid},0")
}

// TestFlowCopyInTmuxIsHonest: inside stock tmux (set-clipboard external), tmux drops the
// OSC 52 a program sends, so the console must not say it copied: it says it did not, and
// how to fix it. With set-clipboard on, tmux forwards it, and the console says so. The
// OSC 52 is sent either way. Outside tmux, it says only that it sent it.
func TestFlowCopyInTmuxIsHonest(t *testing.T) {
	tmux, env := startTmux(t)
	tmux("set-option", "-g", "set-clipboard", "external")

	d := testDB(t)
	srv := startServer(t, d)
	dp := testDeps(t, d, Options{Server: srv})
	dp.tmux = env
	s := startTerm(t, newApp(dp), 80, 24)
	s.waitScreen("SCIM URL", srv.SCIMURL())
	osc52 := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(srv.SCIMURL()))

	s.keys("c")
	scr := s.waitScreen("✗ Not copied: tmux drops OSC 52 here. Run: tmux set -g set-clipboard on")
	if strings.Contains(scr, "Copied") || strings.Contains(scr, "Sent the SCIM URL") {
		t.Errorf("the console claims a copy that tmux dropped:\n%s", scr)
	}
	if !s.sawRaw(osc52) {
		t.Error("c did not send the URL with OSC 52")
	}

	tmux("set-option", "-g", "set-clipboard", "on")
	s.keys("c")
	scr = s.waitScreen("· Sent the SCIM URL via tmux (set-clipboard on) to your terminal's clipboard.")
	if strings.Contains(scr, "Not copied") {
		t.Errorf("the old refusal stayed:\n%s", scr)
	}

	// Outside tmux nothing can be confirmed: it says where the URL went, no more.
	dp.tmux = ""
	s.keys("c")
	s.waitScreen("· Sent the SCIM URL to your terminal's clipboard (OSC 52); not confirmed.")
}

// TestSetupFlowCopyInTmuxIsHonest: the recovery key's copy in `scimdesk setup` follows the
// same rule: inside stock tmux it says the key was not copied, and how to fix that.
func TestSetupFlowCopyInTmuxIsHonest(t *testing.T) {
	tmux, env := startTmux(t)
	tmux("set-option", "-g", "set-clipboard", "external")
	w := newFlowWorld(t)
	_, code := w.pending("erin")
	o := w.options(db.PurposeSetup, "erin@example.com")
	o.Code = code
	d := newFlowDriver(t, o)
	d.f.tmux = env
	d.keys("enter")
	d.until(sfPassphrase)
	d.passphrase(flowPass)
	d.until(sfShowKey)
	d.keys("c")
	d.waitFor(func() bool { return d.f.problem != "" })
	d.want(d.view(), "Not copied: tmux drops OSC 52 here. Run: tmux set -g set-clipboard on")
	if strings.Contains(d.view(), "Copied") {
		t.Errorf("the flow claims a copy:\n%s", d.view())
	}
}

// waitFor handles the flow's messages until cond holds, or fails after a few seconds.
func (d *flowDriver) waitFor(cond func() bool) {
	d.t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case m := <-d.msgs:
			d.send(m)
		case <-deadline:
			d.t.Fatalf("timed out; the view is:\n%s", d.view())
		}
	}
}
