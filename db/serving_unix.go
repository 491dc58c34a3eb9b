//go:build unix

package db

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// The serving lock is an flock on <db>-serving. A server holds it shared from the moment
// it listens until it stops serving, and every process holds it shared while it opens the
// database; restore takes it exclusively, so it sees a server however young (its heartbeat
// may not be written yet) and no scimdesk process can open the database while it is
// swapped. The kernel drops the lock when a process dies, and Linux carries flock over
// NFS as a lock on the server, so a scimdesk on another host is seen too.

// servingLockSuffix names the lock file beside the database.
const servingLockSuffix = "-serving"

// lockServing takes the serving lock of the database at dbPath: shared (serving, opening)
// or exclusive (restoring), waiting at most wait. errLockBusy means another process holds
// it the other way.
func lockServing(dbPath string, exclusive bool, wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(dbPath+servingLockSuffix, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open serving lock file: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			// No flock here (some network filesystems): the heartbeat and the open
			// check still guard restore.
			return f, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, errLockBusy
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// shmDMSByte is the byte of the -shm file that every SQLite connection in WAL mode holds
// a shared POSIX lock on for as long as it has the database open (SQLite's unix VFS calls
// it the DMS lock: the first opener takes it exclusively to initialise the file). Its
// offset is fixed by the file format: 120 + SQLITE_SHM_NLOCK (8).
const shmDMSByte = 128

// openedBy reports the pid of another process that has the database at dbPath open, by
// asking the kernel who holds a lock on its -shm's DMS byte (F_GETLK, which takes nothing
// and never reports this process's own locks). It sees every SQLite user of the file, not
// only scimdesk: the sqlite3 shell too. pid is 0 when the lock holder is known to exist but
// not who (a lock held through NFS).
func openedBy(dbPath string) (pid int, open bool, err error) {
	f, err := os.Open(dbPath + "-shm")
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil // no WAL-mode connection has it open
	}
	if err != nil {
		return 0, false, err
	}
	// Closing a descriptor drops every POSIX lock this process holds on the file, so the
	// caller must have no SQLite connection of its own open on dbPath (Restore has none).
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: shmDMSByte, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return 0, false, fmt.Errorf("check whether the database is open: %w", err)
	}
	if lk.Type == syscall.F_UNLCK {
		return 0, false, nil
	}
	return int(lk.Pid), true, nil
}

// processAlive reports whether a process with this pid runs on this host, so that the
// heartbeat of a server killed a moment ago is not taken for a live one.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
