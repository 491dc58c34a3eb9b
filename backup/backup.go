// Package backup takes scheduled backups of a scimdesk database while it is served: one
// at start-up if the newest is older than the interval, then one every interval, named by
// UTC time, keeping the newest few.
package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"scimdesk/db"
)

// Schedule is where scheduled backups go, how often and how many are kept.
type Schedule struct {
	Dir   string        // created 0700 if missing
	Every time.Duration // time between two backups
	Keep  int           // the newest Keep backups are kept, older ones removed
}

// stampLayout names backups by UTC time, so that names sort as times do.
const stampLayout = "20060102T150405Z"

// retryAfter bounds how long a failed backup waits for its next attempt.
const retryAfter = 10 * time.Minute

// File is one backup of the schedule.
type File struct {
	Path string
	At   time.Time // when it was taken, from its name
}

// naming recognises the schedule's own files in Dir: <db name>-<UTC time>.db for the
// database at dbPath (so that two databases can share a directory), and the temporary
// files a backup interrupted by a crash leaves behind. Nothing else is ever removed.
type naming struct {
	prefix  string
	own     *regexp.Regexp
	partial *regexp.Regexp
}

func namesFor(dbPath string) naming {
	base := filepath.Base(dbPath)
	prefix := strings.TrimSuffix(base, filepath.Ext(base)) + "-"
	q := regexp.QuoteMeta(prefix)
	return naming{
		prefix:  prefix,
		own:     regexp.MustCompile(`^` + q + `(\d{8}T\d{6}Z)\.db$`),
		partial: regexp.MustCompile(`^\.` + q + `\d{8}T\d{6}Z\.db\.partial-\d+(-journal)?$`),
	}
}

// Run takes a backup of d at start-up if the newest in s.Dir is older than s.Every (or
// there is none), then one every s.Every, until ctx is done. Each backup and each failure
// is logged; a failure never stops the server, and is retried sooner than a whole
// interval later.
func (s Schedule) Run(ctx context.Context, d *db.DB, log *slog.Logger) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		log.Error("scheduled backups are off: cannot create the backup directory", "dir", s.Dir, "err", err)
		return
	}
	s.removePartials(d.LocalPath(), log)
	next := time.Now()
	if files, err := s.List(d.LocalPath()); err != nil {
		log.Error("backup: cannot read the backup directory", "dir", s.Dir, "err", err)
	} else if len(files) > 0 {
		next = files[len(files)-1].At.Add(s.Every)
	}
	log.Info("scheduled backups", "dir", s.Dir, "every", s.Every.String(), "keep", s.Keep, "next", next.UTC().Format(time.RFC3339))
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		if _, err := s.Take(ctx, d, now, log); err != nil {
			if ctx.Err() != nil {
				return
			}
			timer.Reset(min(s.Every, retryAfter))
			continue
		}
		timer.Reset(s.Every)
	}
}

// Take writes one backup of d named by now, then removes the schedule's backups beyond the
// newest s.Keep. Both are logged.
func (s Schedule) Take(ctx context.Context, d *db.DB, now time.Time, log *slog.Logger) (db.BackupInfo, error) {
	n := namesFor(d.LocalPath())
	path := filepath.Join(s.Dir, n.prefix+now.UTC().Format(stampLayout)+".db")
	start := time.Now()
	info, err := d.Backup(ctx, path)
	took := time.Since(start)
	if err != nil {
		log.Error("backup failed", "path", path, "took", took.Round(time.Millisecond).String(), "err", err)
		return info, err
	}
	log.Info("backup written", "path", path, "bytes", info.Size, "users", info.Users, "groups", info.Groups,
		"took", took.Round(time.Millisecond).String())
	s.prune(d.LocalPath(), log)
	return info, nil
}

// List returns the schedule's backups of the database at dbPath in s.Dir, oldest first.
func (s Schedule) List(dbPath string) ([]File, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, err
	}
	n := namesFor(dbPath)
	var out []File
	for _, e := range entries {
		m := n.own.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		at, err := time.Parse(stampLayout, m[1])
		if err != nil {
			continue
		}
		out = append(out, File{Path: filepath.Join(s.Dir, e.Name()), At: at})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// prune removes the schedule's backups beyond the newest s.Keep.
func (s Schedule) prune(dbPath string, log *slog.Logger) {
	files, err := s.List(dbPath)
	if err != nil {
		log.Error("backup: cannot list old backups to remove", "dir", s.Dir, "err", err)
		return
	}
	for len(files) > s.Keep {
		if err := os.Remove(files[0].Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Error("backup: cannot remove an old backup", "path", files[0].Path, "err", err)
		} else {
			log.Info("old backup removed", "path", files[0].Path)
		}
		files = files[1:]
	}
}

// removePartials removes what backups interrupted by a crash left behind. It runs before
// the first backup of this process, so no backup of its own is under way.
func (s Schedule) removePartials(dbPath string, log *slog.Logger) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return
	}
	n := namesFor(dbPath)
	for _, e := range entries {
		if n.partial.MatchString(e.Name()) {
			p := filepath.Join(s.Dir, e.Name())
			if err := os.Remove(p); err == nil {
				log.Info("removed an interrupted backup", "path", p)
			}
		}
	}
}

// Validate checks a schedule before the server starts, so that a typo fails at once rather
// than at the first backup.
func (s Schedule) Validate() error {
	if s.Dir == "" {
		return errors.New("no backup directory given")
	}
	if s.Every < time.Minute {
		return fmt.Errorf("backup interval %s: give at least 1m", s.Every)
	}
	if s.Keep < 1 {
		return fmt.Errorf("keep %d backups: give at least 1", s.Keep)
	}
	return nil
}
