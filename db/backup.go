package db

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// ErrExists means a backup would overwrite a file: backups never do.
var ErrExists = errors.New("the file already exists")

// ErrNotDatabase means a file is not a scimdesk database (not SQLite at all, or SQLite
// without scimdesk's schema).
var ErrNotDatabase = errors.New("not a scimdesk database")

// ErrDamaged means SQLite's integrity check found a file damaged.
var ErrDamaged = errors.New("the database is damaged")

// ErrServed means a restore was refused because a server serves the database.
var ErrServed = errors.New("a scimdesk server serves the database")

// ErrInUse means a restore was refused because another process has the database open.
var ErrInUse = errors.New("another process has the database open")

// refusal is an error of one of the kinds above (ErrServed, ErrInUse) with a sentence of
// its own, so the message says what to do without repeating the kind.
type refusal struct {
	kind error
	msg  string
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.kind }

// errLockBusy means another process holds the serving lock the other way.
var errLockBusy = errors.New("serving lock busy")

// BackupInfo describes a database file written by Backup or checked by Verify.
type BackupInfo struct {
	Path       string
	Size       int64 // bytes
	Users      int
	Groups     int
	Tokens     int
	Migrations int // schema migrations recorded (older files have fewer; Open adds the rest)
}

// sqliteHeader begins every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// fileURI is the driver's name for the database file at path with params.
func fileURI(path, params string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + params
}

// Backup writes a consistent copy of the database to the file to, while other goroutines
// and processes go on writing: the copy holds every write committed before Backup began.
// to must not exist. The copy is written under a temporary name in to's directory, synced
// and only then given its name, so a file with that name is always a whole backup; it is
// 0600 from its first byte. The heartbeat of the running server is left out of the copy:
// it describes a process, not data, and a restored database must not look served.
func (d *DB) Backup(ctx context.Context, to string) (BackupInfo, error) {
	if _, err := os.Lstat(to); err == nil {
		return BackupInfo{}, fmt.Errorf("%s: %w; a backup never overwrites one, choose a new name", to, ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return BackupInfo{}, err
	}
	dir := filepath.Dir(to)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(to)+".partial-*") // 0600
	if err != nil {
		return BackupInfo{}, fmt.Errorf("create backup file: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer removeDB(tmpName) // a no-op once the copy has its name

	if d.pg {
		if err := d.backupToFile(ctx, tmpName); err != nil {
			return BackupInfo{}, err
		}
	} else {
		// VACUUM INTO writes one read transaction's snapshot of the database into an empty
		// file. It runs on a connection of its own rather than one of the read pool: those
		// are query_only, which forbids VACUUM INTO's writes to its target, and a pool
		// connection switched out of query_only could go back to the pool writable. mode=ro
		// keeps this one from ever writing the live database.
		src, err := sql.Open("sqlite", fileURI(d.path, "mode=ro&_pragma=busy_timeout(10000)"))
		if err != nil {
			return BackupInfo{}, err
		}
		_, err = src.ExecContext(ctx, `VACUUM INTO ?`, tmpName)
		src.Close()
		if err != nil {
			return BackupInfo{}, fmt.Errorf("copy the database: %w", mapErr(err))
		}
	}
	info, err := sealCopy(ctx, tmpName)
	if err != nil {
		return BackupInfo{}, err
	}
	// A link fails if to appeared in the meantime, where a rename would replace it.
	if err := os.Link(tmpName, to); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return BackupInfo{}, fmt.Errorf("%s: %w; a backup never overwrites one, choose a new name", to, ErrExists)
		}
		// No hard links on this filesystem (some network and FAT ones): rename instead.
		if err := os.Rename(tmpName, to); err != nil {
			return BackupInfo{}, fmt.Errorf("name the backup file: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return BackupInfo{}, err
	}
	info.Path = to
	return info, nil
}

// backupToFile writes a snapshot of a PostgreSQL database into the empty SQLite file at
// path: a backup is always a SQLite file, whichever engine serves, so that `verify` and
// `restore` (or migrate-store, back to PostgreSQL) work the same on both. As with a
// SQLite backup, the setup codes' key is left out.
func (d *DB) backupToFile(ctx context.Context, path string) error {
	c, err := Open(ctx, path, WithWriteBudget(migrationBudget))
	if err != nil {
		return fmt.Errorf("create the backup file: %w", err)
	}
	_, err = CopyStore(ctx, d, c, false)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Out of WAL mode, as VACUUM INTO leaves a SQLite backup: one file, which reading
		// it does not add a -wal and -shm beside.
		var raw *sql.DB
		if raw, err = sql.Open("sqlite", fileURI(path, "_pragma=busy_timeout(10000)")); err == nil {
			_, err = raw.ExecContext(ctx, `PRAGMA journal_mode = DELETE`)
			raw.Close()
		}
	}
	// Open made the files that live beside a database in use; a backup has none.
	for _, side := range []string{CodeKeySuffix, "-admin", servingLockSuffix, authGenSuffix, "-wal", "-shm"} {
		os.Remove(path + side)
	}
	if err != nil {
		return fmt.Errorf("copy the database: %w", err)
	}
	return nil
}

// sealCopy takes the heartbeat out of a fresh copy, counts what it holds and syncs it.
func sealCopy(ctx context.Context, path string) (BackupInfo, error) {
	c, err := sql.Open("sqlite", fileURI(path, "_pragma=busy_timeout(10000)"))
	if err != nil {
		return BackupInfo{}, err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `DELETE FROM heartbeats`); err != nil {
		return BackupInfo{}, fmt.Errorf("prepare the copy: %w", err)
	}
	info, err := countContents(ctx, c)
	if err != nil {
		return BackupInfo{}, err
	}
	if err := c.Close(); err != nil {
		return BackupInfo{}, err
	}
	if info.Size, err = syncFile(path); err != nil {
		return BackupInfo{}, err
	}
	return info, nil
}

// countContents reads what a database holds, for the admin to see what a backup contains.
func countContents(ctx context.Context, c *sql.DB) (BackupInfo, error) {
	var info BackupInfo
	err := c.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM groups),
		(SELECT count(*) FROM scim_tokens), (SELECT count(*) FROM migrations)`).Scan(&info.Users, &info.Groups, &info.Tokens, &info.Migrations)
	if err != nil {
		return info, fmt.Errorf("count what the database holds: %w", err)
	}
	return info, nil
}

// Verify checks that the file at path is a scimdesk database this binary can open: a
// SQLite file that passes SQLite's integrity check, with scimdesk's schema, recording no
// migration this binary does not know (ErrNewerSchema). It changes nothing in the file.
func Verify(ctx context.Context, path string) (BackupInfo, error) {
	if err := checkHeader(path); err != nil {
		return BackupInfo{}, err
	}
	c, err := sql.Open("sqlite", fileURI(path, "mode=ro&_pragma=busy_timeout(10000)"))
	if err != nil {
		return BackupInfo{}, err
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	rows, err := c.QueryContext(ctx, `PRAGMA integrity_check(20)`)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("%s: %w: %v", path, ErrDamaged, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return BackupInfo{}, fmt.Errorf("%s: %w: %v", path, ErrDamaged, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil || len(problems) > 0 {
		if err != nil {
			problems = append(problems, err.Error())
		}
		return BackupInfo{}, fmt.Errorf("%s: %w (integrity check: %s)", path, ErrDamaged, strings.Join(problems, "; "))
	}
	applied, err := appliedMigrations(ctx, c, false)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("%s: read its migrations: %w", path, err)
	}
	if applied == nil {
		return BackupInfo{}, fmt.Errorf("%s: %w (a SQLite database without scimdesk's tables)", path, ErrNotDatabase)
	}
	if err := checkKnown(applied); err != nil {
		return BackupInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	info, err := countContents(ctx, c)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("%s: %w (%v)", path, ErrNotDatabase, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, err
	}
	info.Path, info.Size = path, fi.Size()
	return info, nil
}

// checkHeader checks that path is a SQLite file, reading its first bytes only.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteHeader) {
		return fmt.Errorf("%s: %w (not a SQLite file)", path, ErrNotDatabase)
	}
	return nil
}

// Restore replaces the database at dbPath with the backup at from, after checking the
// backup (Verify). It refuses while a server serves dbPath (ErrServed, naming its pid when
// the heartbeat tells it) or another process has it open (ErrInUse). The replacement is
// atomic: the backup is copied beside dbPath under a temporary name, synced, and renamed
// over dbPath, so a crash leaves either the old database or the restored one. dbPath need
// not exist (a restore onto a new machine); if it does, it must be a SQLite file.
//
// The caller must not have dbPath open itself: a process cannot see its own locks.
func Restore(ctx context.Context, dbPath, from string) (BackupInfo, error) {
	info, err := Verify(ctx, from)
	if err != nil {
		return BackupInfo{}, err
	}
	if err := checkHeader(dbPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return BackupInfo{}, fmt.Errorf("refusing to replace it: %w", err)
	}
	dir := filepath.Dir(dbPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return BackupInfo{}, fmt.Errorf("create database directory: %w", err)
	}

	// The copy is made before anything of the database is touched or locked, so the
	// database is unavailable only for the rename. VACUUM INTO rather than a byte copy: it
	// reads the backup through SQLite, so the copy is a consistent whole even if the backup
	// file came with a -wal of its own.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dbPath)+".restore-*") // 0600
	if err != nil {
		return BackupInfo{}, fmt.Errorf("create the restored file: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer removeDB(tmpName)
	src, err := sql.Open("sqlite", fileURI(from, "mode=ro&_pragma=busy_timeout(10000)"))
	if err != nil {
		return BackupInfo{}, err
	}
	_, err = src.ExecContext(ctx, `VACUUM INTO ?`, tmpName)
	src.Close()
	if err != nil {
		return BackupInfo{}, fmt.Errorf("copy %s: %w", from, mapErr(err))
	}
	if _, err := syncFile(tmpName); err != nil {
		return BackupInfo{}, err
	}

	// Who else uses the database, three ways. The serving lock sees a server from the
	// moment it listens (before its first heartbeat), on this host or, through NFS, on
	// another; holding it also keeps any scimdesk process from opening the database until
	// the swap is done. The heartbeat covers a server where flock does not work. The
	// -shm's DMS lock sees every other process with the database open: a console, an admin
	// command, the sqlite3 shell. What none of them sees is a program that is not scimdesk
	// opening the file in the moment between the last check and the rename.
	lock, err := lockServing(dbPath, true, time.Second)
	if errors.Is(err, errLockBusy) {
		return BackupInfo{}, servedError(ctx, dbPath, "")
	}
	if err != nil {
		return BackupInfo{}, err
	}
	defer lock.Close()
	if err := servedError(ctx, dbPath, "fresh"); err != nil {
		return BackupInfo{}, err
	}
	if pid, open, err := openedBy(dbPath); err != nil {
		return BackupInfo{}, err
	} else if open {
		return BackupInfo{}, inUseError(pid)
	}
	// Nobody has the old database open, so its -wal and -shm are leftovers: a WAL still
	// holding frames would be replayed into the restored file, so they must go before the
	// rename. A checkpoint first moves what the WAL holds into the old file, so a crash
	// between the removal and the rename leaves the old database whole.
	if err := checkpointAway(ctx, dbPath); err != nil {
		return BackupInfo{}, err
	}
	for _, p := range []string{dbPath + "-wal", dbPath + "-shm", dbPath + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return BackupInfo{}, fmt.Errorf("remove the old database's %s: %w", p, err)
		}
	}
	if err := os.Rename(tmpName, dbPath); err != nil {
		return BackupInfo{}, fmt.Errorf("put the restored database in place: %w", err)
	}
	if err := os.Chmod(dbPath, 0o600); err != nil {
		return BackupInfo{}, err
	}
	if err := syncDir(dir); err != nil {
		return BackupInfo{}, err
	}
	info.Path = dbPath
	return info, nil
}

// servedError returns ErrServed, naming the server's pid and address from the heartbeat,
// when the serving lock was busy (how is "") or when a heartbeat is live (how is
// "fresh"; nil otherwise).
func servedError(ctx context.Context, dbPath, how string) error {
	beats, err := ReadHeartbeatFile(ctx, dbPath)
	h, fresh := Serving(beats, time.Now())
	fresh = fresh && err == nil
	switch {
	case fresh:
		return &refusal{ErrServed, fmt.Sprintf("scimdesk (pid %d) serves it on %s; stop it first, then restore", h.PID, h.Addr)}
	case how == "fresh":
		return nil
	default:
		return &refusal{ErrServed, "a scimdesk process serves it (or is opening it); stop the server first, then restore"}
	}
}

// inUseError is ErrInUse naming the process when it is known.
func inUseError(pid int) error {
	who := "another process"
	if pid > 0 {
		who = fmt.Sprintf("process %d", pid)
	}
	return &refusal{ErrInUse, who + " has it open (a console, an admin command, the sqlite3 shell?); close that first, then restore"}
}

// ReadHeartbeatFile reads the fresh heartbeats of the database at path (as ReadHeartbeats)
// without opening it as a scimdesk database: read only, no migration, no writer, no lock,
// nothing created. For restore, and for probes that only need to find the server.
//
// A PostgreSQL URL is read the same way: one read-only connection, closed at once.
func ReadHeartbeatFile(ctx context.Context, path string) ([]Heartbeat, error) {
	if IsPostgres(path) {
		c, err := openPostgres(path, 1, true)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return readHeartbeats(ctx, c, time.Now())
	}
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	c, err := sql.Open("sqlite", fileURI(path, "mode=ro&_pragma=busy_timeout(2000)"))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return readHeartbeats(ctx, c, time.Now())
}

// checkpointAway copies what the WAL of the (closed) database at path holds into the
// database file. A database too damaged to checkpoint is left as it is: it is about to be
// replaced, and that is likely why.
func checkpointAway(ctx context.Context, path string) error {
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		return nil
	}
	c, err := sql.Open("sqlite", fileURI(path, "_pragma=busy_timeout(2000)"))
	if err != nil {
		return nil
	}
	defer c.Close()
	var busy, logFrames, done int
	err = c.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done)
	if err == nil && busy != 0 || errors.Is(mapErr(err), ErrBusy) {
		return inUseError(0)
	}
	return nil
}

// syncFile flushes the file at path to disk and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sync %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), f.Close()
}

// syncDir makes a rename or link in dir durable. Windows cannot sync a directory, and does
// not need to.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// removeDB removes a temporary database file and the journal SQLite may have left beside
// it.
func removeDB(path string) {
	os.Remove(path)
	os.Remove(path + "-journal")
}
