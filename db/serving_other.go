//go:build !unix

package db

import (
	"os"
	"time"
)

// servingLockSuffix names the lock file beside the database.
const servingLockSuffix = "-serving"

// lockServing has no lock to take where flock is not available: restore falls back on the
// server's heartbeat there.
func lockServing(dbPath string, exclusive bool, wait time.Duration) (*os.File, error) {
	return os.OpenFile(dbPath+servingLockSuffix, os.O_RDWR|os.O_CREATE, 0o600)
}

// openedBy cannot tell whether another process has the database open here.
func openedBy(string) (pid int, open bool, err error) { return 0, false, nil }

// processAlive cannot ask here; a fresh heartbeat counts as a live server.
func processAlive(int) bool { return true }
