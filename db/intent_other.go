//go:build !unix

package db

import (
	"context"
	"time"
)

const maxAdminWait = 2 * time.Second

// adminIntent is a no-op where flock is not available: admin writes of this process are
// still served first, and other processes compete for SQLite's lock as usual.
type adminIntent struct{}

func openAdminIntent(string) (*adminIntent, error) { return &adminIntent{}, nil }

func (a *adminIntent) announce(context.Context) (func(), error) { return func() {}, nil }

func (a *adminIntent) announced() bool { return false }

func (a *adminIntent) close() {}
