package tui

import (
	"context"
	"errors"

	"scimdesk/db"
)

// Server is what the console needs of an in-process SCIM server.
type Server interface {
	SCIMURL() string
	Addr() string
	TLS() bool
	Notify() <-chan struct{}
}

// Options configure the console.
type Options struct {
	DB          *db.DB
	Server      Server // nil when attached to another process's server, or when it failed to start
	ServerErr   error  // why the in-process server is not running
	AttachedPID int    // the pid of the scimdesk serve that serves this database, if any
	LogPath     string
}

// Run shows the console until the admin quits or ctx ends.
func Run(ctx context.Context, o Options) error {
	return errors.New("the console is not built yet")
}
