// Package cli is scimdesk's command line: one file per command group (the console and
// serve, token, scim, users, backup and restore, setup and recover). main only parses and
// runs it.
package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"github.com/alecthomas/kong"

	"scimdesk/db"
	"scimdesk/termsafe"
	"scimdesk/tui"
)

// Globals are the flags every command shares.
type Globals struct {
	DB string `help:"Database: a SQLite file (default: scimdesk.db under your data directory) or a postgres:// URL." env:"SCIMDESK_DB" placeholder:"PATH|URL"`
}

// CLI is the whole command line, for kong.
type CLI struct {
	Globals
	Version kong.VersionFlag `help:"Print the version and exit."`

	Console      consoleCmd      `cmd:"" default:"withargs" help:"Open the console and run the SCIM server (the default)."`
	Serve        serveCmd        `cmd:"" help:"Run the SCIM server without a terminal (systemd, containers)."`
	Token        tokenCmd        `cmd:"" help:"Create, list and revoke SCIM tokens."`
	SCIM         scimCmd         `cmd:"" name:"scim" help:"Switch SCIM provisioning on or off, or show its status."`
	Users        usersCmd        `cmd:"" help:"List provisioned users; issue setup and recovery codes."`
	OIDC         oidcCmd         `cmd:"" name:"oidc" help:"Set, show or clear the identity provider pending users sign in with."`
	Backup       backupCmd       `cmd:"" help:"Write a consistent copy of the database to a file, while a server goes on serving it."`
	Restore      restoreCmd      `cmd:"" help:"Replace the database with a backup, after checking it (refused while a server serves the database)."`
	MigrateStore migrateStoreCmd `cmd:"" name:"migrate-store" help:"Copy everything from one database to a new, empty one (SQLite to PostgreSQL, or back), and check the copy."`
	Setup        setupCmd        `cmd:"" help:"Finish your account: sign in with your company account (when your admin set it up) or use the setup code from your admin, then create your master key."`
	Health       healthCmd       `cmd:"" help:"Check that the server of this database answers (for container health checks and monitors); exit 1 if not."`
	Recover      recoverCmd      `cmd:"" help:"Forgot your passphrase? Choose a new one with your recovery key, after signing in with your company account or with a recovery code."`
}

// path is the database file the flags name, or the default one.
func (g *Globals) path() (string, error) {
	if g.DB != "" {
		return g.DB, db.CheckLocation(g.DB)
	}
	return db.DefaultPath()
}

// create opens the database the flags name, creating it (and its directory) on first run.
// Only the console and serve do: they are how a database comes to be.
func (g *Globals) create(ctx context.Context) (*db.DB, error) {
	path, err := g.path()
	if err != nil {
		return nil, err
	}
	return openDB(ctx, path)
}

// open opens an existing database for an admin command. It refuses a path where no
// database is, creating nothing: a mistyped --db would otherwise make a new empty
// database, and `scim disable` or `token revoke` would report success on it while the real
// server goes on serving.
func (g *Globals) open(ctx context.Context) (*db.DB, error) {
	path, err := g.path()
	if err != nil {
		return nil, err
	}
	if db.IsPostgres(path) {
		return openDB(ctx, path, db.OnlyExisting())
	}
	if err := isDatabase(path); err != nil {
		return nil, err
	}
	return openDB(ctx, path)
}

// openDB opens the database at path. What the database fixed while opening (files
// readable by others) is said on stderr, before any screen takes over the terminal.
func openDB(ctx context.Context, path string, opt ...db.Option) (*db.DB, error) {
	d, err := db.Open(ctx, path, append(opt, db.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))...)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", db.Redact(path), err)
	}
	if n := d.CodeKeyNotice(); n != "" {
		fmt.Fprintln(os.Stderr, "warning: "+n)
	}
	return d, nil
}

// sqliteMagic begins every SQLite database file (the file format's header string).
var sqliteMagic = []byte("SQLite format 3\x00")

// isDatabase checks that path is a SQLite database file, without creating or changing
// anything.
func isDatabase(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no database at %s: check --db (or SCIMDESK_DB); `scimdesk serve` or the console creates one on first run", path)
	}
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return fmt.Errorf("%s is not a scimdesk database: check --db (or SCIMDESK_DB)", path)
	}
	return nil
}

// liveServer returns the heartbeat of another process's server that serves this database
// right now, if there is one (one on this host if several serve).
func liveServer(ctx context.Context, d *db.DB) (db.Heartbeat, bool) {
	beats, err := d.ReadHeartbeats(ctx)
	if err != nil {
		return db.Heartbeat{}, false
	}
	return db.Serving(beats, time.Now())
}

// actor names the admin in the audit log: "cli:" and the OS user running the command (a
// console in a terminal records "local:", one over SSH "ssh:" and the key).
func actor() string { return "cli:" + tui.OSUser() }

// version is stamped into release builds by the linker:
//
//	go build -ldflags "-X scimdesk/cli.version=v1.2.3" .
//
// (.goreleaser.yaml and .ci/run do). Empty in a plain `go build` or `go run`.
var version string

// Version is the version stamped into the build, or else the module version and VCS
// revision the binary was built from.
func Version() string {
	if version != "" {
		return "scimdesk " + version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "scimdesk (unknown version)"
	}
	v := "scimdesk " + info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}

func day(t time.Time) string { return t.Local().Format("2006-01-02") }

func orNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return day(t)
}

// clip makes a value from the database fit a table cell: safe to print (an identity
// provider chose it) and short enough not to widen every row.
func clip(s string) string {
	const max = 60
	s = termsafe.Clean(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + "…"
}
