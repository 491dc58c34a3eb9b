// Package tui is scimdesk's admin console: a Bubble Tea program with five tabs
// (Provisioning, Tokens, Users, Groups, Activity) over the database, beside the SCIM
// server that runs in the same process or in another one.
package tui

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
	"scimdesk/termsafe"
)

// Server is what the console needs of an in-process SCIM server.
type Server interface {
	// SCIMURL is the base URL to paste into the identity provider.
	SCIMURL() string
	// Addr is the address the server listens on.
	Addr() string
	// TLS reports whether the server speaks HTTPS itself.
	TLS() bool
	// Subscribe returns a channel nudged, without blocking the server, after every event
	// it records; cancel ends the subscription. Every console subscribes for itself.
	Subscribe() (nudge <-chan struct{}, cancel func())
}

// Options configure the console.
type Options struct {
	DB          *db.DB
	Server      Server // nil when attached to another process's server, or when it failed to start
	ServerErr   error  // why the in-process server is not running
	AttachedPID int    // the pid of the scimdesk serve that serves this database, if any
	LogPath     string // where the server logs go (shown, so the admin can find them)
	// Actor names the admin in the audit log; empty means "local:" and the OS user name.
	Actor string
	// Remote is set for a console served over SSH by the running server: q ends that
	// session only, without asking, since the server keeps serving.
	Remote bool
	// SSH is the SSH console service of the server, shown on tab 1 so that admins can
	// check the host key on first connect; zero when the console is not served over SSH.
	SSH SSHInfo
	// DownloadURL is where users get scimdesk (--client-download-url), shown with a setup
	// code and in its copied hand-over text; "" shows nothing.
	DownloadURL string
}

// SSHInfo is what tab 1 says of the console's SSH service.
type SSHInfo struct {
	Addr        string // where it listens
	Fingerprint string // the host key's SHA256 fingerprint, as ssh prints it
}

// Run shows the console until the admin quits or ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.DB == nil {
		return errors.New("tui: no database")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the Cmds still waiting (the server's nudges) when the console stops
	m, err := NewModel(ctx, o)
	if err != nil {
		return err
	}
	p := tea.NewProgram(m, tea.WithContext(ctx))
	_, err = p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // stopped by a signal through ctx: a normal end
	}
	return err
}

// NewModel builds one console over the database and the server: the local terminal's
// (see Run), or one per SSH session, each with its own size, colours, keys and state over
// the same service. ctx is the console's life: its reads run under it and its subscription
// to the server's nudges ends with it, so the caller must end ctx when the console stops.
func NewModel(ctx context.Context, o Options) (tea.Model, error) {
	if o.DB == nil {
		return nil, errors.New("tui: no database")
	}
	return newApp(newDeps(ctx, o)), nil
}

// newDeps gathers what the tabs are built with, and subscribes to the server's nudges
// until ctx ends.
func newDeps(ctx context.Context, o Options) *deps {
	d := &deps{
		ctx: ctx, server: o.Server, serverErr: o.ServerErr, attachedPID: o.AttachedPID,
		logPath: o.LogPath, actor: o.Actor, remote: o.Remote, ssh: o.SSH, pid: os.Getpid(), host: db.ThisHost(), downloadURL: o.DownloadURL,
		styles: newStyles(true), keys: newKeyMap(), now: time.Now,
	}
	if o.DB != nil {
		d.store, d.dbPath = o.DB, o.DB.Path()
	}
	if d.actor == "" {
		d.actor = LocalActor()
	}
	if !d.remote {
		// Over SSH this process's $TMUX says nothing of the admin's terminal: the
		// clipboard cannot be confirmed there, and the console says so.
		d.tmux = os.Getenv("TMUX")
	}
	if d.remote {
		// The server keeps serving whatever this session does: say so where q is named.
		d.keys.Quit.SetHelp("q", "end session")
		d.keys.ForceQuit.SetHelp("ctrl+c", "end this SSH session at once")
	}
	// The console reads again when something changes: the in-process server's nudge
	// (after each event it records) and the database's change signal (a write by any
	// process: a server elsewhere, an admin command, another console). The tick is only
	// a fallback.
	var sources []<-chan struct{}
	if d.server != nil {
		nudge, unsubscribe := d.server.Subscribe()
		sources = append(sources, nudge)
		context.AfterFunc(ctx, unsubscribe)
	}
	if o.DB != nil {
		changes, unsubscribe := o.DB.Changes()
		sources = append(sources, changes)
		context.AfterFunc(ctx, unsubscribe)
	}
	d.nudge = mergeNudges(ctx, sources...)
	return d
}

// mergeNudges forwards every nudge of sources to one channel, coalescing (a nudge not yet
// taken stands for any that follow), until ctx ends. nil without sources.
func mergeNudges(ctx context.Context, sources ...<-chan struct{}) <-chan struct{} {
	switch len(sources) {
	case 0:
		return nil
	case 1:
		return sources[0]
	}
	out := make(chan struct{}, 1)
	for _, src := range sources {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-src:
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	return out
}

// LocalActor names the admin of a console in a local terminal in the audit log: "local:"
// and the OS user ($USER, cleaned of control characters and bounded, else the uid).
func LocalActor() string { return "local:" + OSUser() }

// OSUser is the name of the user running this process, as the audit log records it:
// $USER cleaned of control characters and cut at 32 characters, else the uid.
func OSUser() string {
	name := []rune(termsafe.Clean(strings.ToValidUTF8(os.Getenv("USER"), "�")))
	if len(name) > 32 {
		name = append(name[:31], '…')
	}
	if len(name) == 0 {
		return strconv.Itoa(os.Getuid())
	}
	return string(name)
}

// sshLines are tab 1's lines on the SSH console service: where it listens and the host
// key's fingerprint, which admins compare with what ssh shows on first connect; one per
// server with an SSH console when attached to several; none without one.
func sshLines(d *deps, beats []db.Heartbeat) []string {
	if d.ssh.Fingerprint != "" {
		return []string{"console on " + d.ssh.Addr + " · host key " + d.ssh.Fingerprint}
	}
	if d.server != nil {
		return nil
	}
	// Attached to servers in other processes: their heartbeats name their SSH consoles.
	other := others(d, beats, d.now())
	var lines []string
	for _, h := range other {
		if h.SSHHostKey == "" {
			continue
		}
		line := "console on " + clean(h.SSHAddr) + " · host key " + clean(h.SSHHostKey)
		if len(other) > 1 {
			line = where(d, h) + ": " + line
		}
		lines = append(lines, line)
	}
	return lines
}
