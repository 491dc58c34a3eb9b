package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// tab is one screen of the console. The root model owns size, quitting, help and the
// status line; a tab owns everything inside its area.
//
// Update gets the key presses only while the tab is shown, and every other message
// (data, events, results) always, so a tab keeps its data fresh while hidden. It never does
// I/O itself: it returns Cmds from cmds.go.
type tab interface {
	Title() string
	Init() tea.Cmd
	Update(msg tea.Msg) tea.Cmd
	View() string
	SetSize(width, height int)
	KeyMap() help.KeyMap
	// Capturing reports whether the tab is reading text or waiting for an answer, so that
	// q, ?, 1-5 and tab are typed into it instead of acting globally.
	Capturing() bool
}

// store is what the console needs of the database; *db.DB is it. Declared here so the tabs
// name exactly what they use.
type store interface {
	SCIMEnabled(ctx context.Context) (bool, error)
	SetSCIMEnabled(ctx context.Context, on bool, actor string) error
	CreateToken(ctx context.Context, description string, ttl time.Duration, actor string) (db.Token, string, error)
	Tokens(ctx context.Context) ([]db.Token, error)
	RevokeToken(ctx context.Context, id, actor string) error
	RotateToken(ctx context.Context, id string, overlap time.Duration, actor string) (db.Rotation, string, error)
	ListUsers(ctx context.Context, w db.Where, p db.Page) ([]db.User, int, error)
	CountUsersByStatus(ctx context.Context) (db.StatusCounts, error)
	ListGroups(ctx context.Context, w db.Where, p db.Page) ([]db.Group, int, error)
	EventsAfter(ctx context.Context, id int64, limit int) ([]db.Event, error)
	EventsBefore(ctx context.Context, id int64, limit int) ([]db.Event, error)
	ReadHeartbeats(ctx context.Context) ([]db.Heartbeat, error)
	IssueSetupCode(ctx context.Context, userID, purpose, actor string) (db.SetupCode, string, error)
	SetupCodeOf(ctx context.Context, userID string) (db.SetupCode, error)
	OIDCConfig(ctx context.Context) (db.OIDCConfig, error)
	LatestInvite(ctx context.Context, userID string) (db.Invitation, error)
	CountOnboarding(ctx context.Context, now time.Time) (db.OnboardingCounts, error)
	InviteUser(ctx context.Context, userID, actor string) (bool, error)
	InviteAllPending(ctx context.Context, actor string) (queued, noAddress int, err error)
}

// deps are what every tab is built with, passed to constructors (never through a context).
type deps struct {
	ctx         context.Context // ends when the console stops; every query runs under it
	store       store
	server      Server // nil when attached to another process's server or when it failed
	serverErr   error
	attachedPID int
	dbPath      string
	logPath     string
	actor       string // who the audit log names for admin actions
	tmux        string // $TMUX of the admin's terminal; "" outside tmux (or not known: over SSH)
	noColour    bool   // the terminal shows no colour (NO_COLOR): placeholders get brackets
	remote      bool   // served over SSH: q ends this session, not the server
	ssh         SSHInfo
	nudge       <-chan struct{} // the server's nudges to this console; nil without one
	pid         int             // this process, to tell our own heartbeat from another server's
	host        string          // this host (db.ThisHost), likewise
	styles      *styles
	keys        *keyMap
	now         func() time.Time
	downloadURL string // where users get scimdesk; "" if not given
}
