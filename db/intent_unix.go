//go:build unix

package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// maxAdminWait bounds how long a writer pauses for another process's admin write. The
// admin's write is one small transaction; a longer announcement means that process is
// stuck, and holding every SCIM write for it would be worse than competing for the lock.
const maxAdminWait = 2 * time.Second

// adminIntent lets an admin command of one process ask the writers of every other process
// on the same database to pause between two commits. SQLite's busy handler only polls for
// the write lock now and then, so a command competing with a server that commits back to
// back could wait for seconds or fail; with this it gets the lock at the server's next
// commit.
//
// It is an flock on a file beside the database: the admin holds it exclusively for the
// length of its write; a writer probes it (shared, non-blocking) before each batch and
// waits while it is taken. The kernel drops the lock when a process dies, so a crashed
// admin command leaves nothing behind.
//
// The two descriptors are two open files on purpose: flock locks belong to an open file,
// so a probe on the descriptor that holds the lock would convert it instead of seeing it.
type adminIntent struct {
	hold  *os.File      // taken by this process's admin writes
	probe *os.File      // probed by this process's writer
	mine  chan struct{} // one admin write of this process holds the lock at a time
}

func openAdminIntent(dbPath string) (*adminIntent, error) {
	var files [2]*os.File
	for i := range files {
		f, err := os.OpenFile(dbPath+"-admin", os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			if files[0] != nil {
				files[0].Close()
			}
			return nil, fmt.Errorf("open admin lock file: %w", err)
		}
		files[i] = f
	}
	return &adminIntent{hold: files[0], probe: files[1], mine: make(chan struct{}, 1)}, nil
}

// announce takes the lock for an admin write, waiting for another admin command of
// another process if there is one; release gives it back.
func (a *adminIntent) announce(ctx context.Context) (release func(), err error) {
	if a == nil {
		return func() {}, nil // PostgreSQL: no file; the writers' lock is granted in turn
	}
	select {
	case a.mine <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fd := int(a.hold.Fd())
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(fd, syscall.LOCK_UN); <-a.mine }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return func() { <-a.mine }, nil // no lock to be had: fall back on SQLite's own locking
		}
		select {
		case <-ctx.Done():
			<-a.mine
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// announced reports whether an admin write is waiting or running. That includes this
// process's own, which the writer then finds in its urgent queue and serves at once.
func (a *adminIntent) announced() bool {
	if a == nil {
		return false
	}
	fd := int(a.probe.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(fd, syscall.LOCK_UN)
	return false
}

func (a *adminIntent) close() {
	if a != nil {
		a.hold.Close()
		a.probe.Close()
	}
}
