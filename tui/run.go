// Package tui is scimdesk's admin console: a Bubble Tea program with five tabs
// (Provisioning, Tokens, Users, Groups, Activity) over the database, beside the SCIM
// server that runs in the same process or in another one.
package tui

import (
	"context"
	"errors"
	"os"
	"strconv"
	"time"

	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// Server is what the console needs of an in-process SCIM server.
type Server interface {
	// SCIMURL is the base URL to paste into the identity provider.
	SCIMURL() string
	// Addr is the address the server listens on.
	Addr() string
	// TLS reports whether the server speaks HTTPS itself.
	TLS() bool
	// Notify is nudged, without blocking, after every event the server records.
	Notify() <-chan struct{}
}

// Options configure the console.
type Options struct {
	DB          *db.DB
	Server      Server // nil when attached to another process's server, or when it failed to start
	ServerErr   error  // why the in-process server is not running
	AttachedPID int    // the pid of the scimdesk serve that serves this database, if any
	LogPath     string // where the server logs go (shown, so the admin can find them)
	// Actor names the admin in the audit log; empty means "admin:" and the OS user name.
	Actor string
}

// Run shows the console until the admin quits or ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.DB == nil {
		return errors.New("tui: no database")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the Cmds still waiting (the server's nudges) when the console stops
	p := tea.NewProgram(newApp(newDeps(ctx, o)), tea.WithContext(ctx))
	_, err := p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // stopped by a signal through ctx: a normal end
	}
	return err
}

// newDeps gathers what the tabs are built with.
func newDeps(ctx context.Context, o Options) *deps {
	d := &deps{
		ctx: ctx, server: o.Server, serverErr: o.ServerErr, attachedPID: o.AttachedPID,
		logPath: o.LogPath, actor: o.Actor, pid: os.Getpid(), tmux: os.Getenv("TMUX"),
		styles: newStyles(true), keys: newKeyMap(), now: time.Now,
	}
	if o.DB != nil {
		d.store, d.dbPath = o.DB, o.DB.Path()
	}
	if d.actor == "" {
		d.actor = defaultActor()
	}
	return d
}

// defaultActor is "admin:" and the OS user, as the CLI commands record it.
func defaultActor() string {
	name := os.Getenv("USER")
	if name == "" {
		name = strconv.Itoa(os.Getuid())
	}
	return "admin:" + name
}
