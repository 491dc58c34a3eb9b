package cli

import (
	"context"
	"fmt"
	"time"

	"scimdesk/backup"
	"scimdesk/db"
)

type backupCmd struct {
	To string `help:"File to write the backup to; it must not exist. Written 0600, complete or not at all." required:"" placeholder:"FILE"`
}

func (c *backupCmd) Run(ctx context.Context, g *Globals) error {
	d, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	start := time.Now()
	info, err := d.Backup(ctx, c.To)
	if err != nil {
		return fmt.Errorf("backup of %s: %w", d.Path(), err)
	}
	fmt.Printf("Backup of %s written to %s in %s\n", d.Path(), info.Path, time.Since(start).Round(time.Millisecond))
	fmt.Println(contents(info))
	return nil
}

type restoreCmd struct {
	From string `help:"Backup file to restore (written by scimdesk backup or --backup-dir)." required:"" placeholder:"FILE"`
}

func (c *restoreCmd) Run(ctx context.Context, g *Globals) error {
	path, err := g.path()
	if err != nil {
		return err
	}
	if db.IsPostgres(path) {
		return fmt.Errorf("restore replaces a SQLite file; to restore into PostgreSQL, copy the backup into a new, empty database: "+
			"scimdesk migrate-store --from %s --to postgres://…", c.From)
	}
	// Restore checks the backup, refuses while a server serves the database or another
	// process has it open, and swaps the file atomically; this process must not open the
	// database itself, or it could not tell its own use from another's.
	info, err := db.Restore(ctx, path, c.From)
	if err != nil {
		return fmt.Errorf("restore of %s from %s: %w", path, c.From, err)
	}
	fmt.Printf("Restored %s from %s\n", path, c.From)
	fmt.Println(contents(info))
	return nil
}

// contents says what a backup holds.
func contents(info db.BackupInfo) string {
	return fmt.Sprintf("%s: %d users, %d groups, %d tokens", size(info.Size), info.Users, info.Groups, info.Tokens)
}

// size is a byte count for people.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// backupFlags configure scheduled backups for serve.
type backupFlags struct {
	BackupDir   string        `help:"Take scheduled backups into this directory (off unless given)." env:"SCIMDESK_BACKUP_DIR" placeholder:"DIR"`
	BackupEvery time.Duration `help:"Time between scheduled backups; one is taken at start-up when the newest is older." default:"24h" env:"SCIMDESK_BACKUP_EVERY" placeholder:"DURATION"`
	BackupKeep  int           `help:"Scheduled backups kept; older ones are removed (only files the schedule wrote)." default:"7" env:"SCIMDESK_BACKUP_KEEP" placeholder:"N"`
}

// validate checks the flags before the server starts, so a typo fails at once rather than
// at the first backup.
func (f *backupFlags) validate() error {
	_, _, err := f.schedule()
	return err
}

// schedule is the backup schedule the flags ask for, validated; ok is false when backups
// are off.
func (f *backupFlags) schedule() (s backup.Schedule, ok bool, err error) {
	if f.BackupDir == "" {
		return backup.Schedule{}, false, nil
	}
	s = backup.Schedule{Dir: f.BackupDir, Every: f.BackupEvery, Keep: f.BackupKeep}
	if err := s.Validate(); err != nil {
		return backup.Schedule{}, false, fmt.Errorf("--backup-dir %s --backup-every %s --backup-keep %d: %w", f.BackupDir, f.BackupEvery, f.BackupKeep, err)
	}
	return s, true, nil
}
