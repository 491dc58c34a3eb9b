// Package logfile is a log file that cannot fill the disk: when a write would take it past
// its cap, it becomes path.1 (path.1 becomes path.2, and so on), a new file is begun, and
// the oldest beyond the number of files kept is removed.
//
// It is a few lines of our own rather than gopkg.in/natefinch/lumberjack.v2: lumberjack
// counts its cap in whole megabytes (a test of the rotation would write tens of them),
// removes old files from a background goroutine (so the bound on disk use holds only
// eventually), and is one more dependency for what fits on a screen.
package logfile

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

// Defaults for the server's log: 10 MiB a file, 3 files (the live one, .1 and .2), so at
// most about 30 MiB on disk.
const (
	DefaultMaxBytes = 10 << 20
	DefaultFiles    = 3
)

// File is a size-capped, rotated log file, safe for concurrent writes. Files are created
// with mode 0600: the log names users and addresses.
type File struct {
	path     string
	maxBytes int64
	files    int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Open opens (creating, mode 0600) the log file at path, to be kept under maxBytes a file
// and files files in all (at least 1: then the file is emptied at the cap).
func Open(path string, maxBytes int64, files int) (*File, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	l := &File{path: path, maxBytes: maxBytes, files: max(files, 1)}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log file: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends p, rotating first if p would take the file past its cap. A write is never
// split, so a file exceeds the cap by at most one line only when that line alone is longer.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil && l.size > 0 && l.size+int64(len(p)) > l.maxBytes {
		l.rotate()
	}
	if l.f == nil { // a failed rotation: try again to have a file at all
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate shifts path.N-1 -> path.N ... path -> path.1, dropping the oldest, and opens a new
// path. Errors are not returned: a log that cannot rotate goes on in whatever file it has.
func (l *File) rotate() {
	l.f.Close()
	l.f = nil
	if l.files == 1 {
		os.Remove(l.path)
	} else {
		os.Remove(l.name(l.files - 1))
		for i := l.files - 2; i >= 0; i-- {
			os.Rename(l.name(i), l.name(i+1))
		}
	}
	l.open()
}

// name is the i-th file: path itself for 0, else path.i.
func (l *File) name(i int) string {
	if i == 0 {
		return l.path
	}
	return l.path + "." + strconv.Itoa(i)
}

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
