package sshconsole

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
	"scimdesk/scimserver"
	"scimdesk/tui"
)

// consoleEnv serves the real console over SSH, over a real database and SCIM server.
func consoleEnv(t *testing.T, keyLines ...string) (*env, *db.DB, *scimserver.Server) {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "scimdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	scim := scimserver.New(d, scimserver.Config{Addr: "127.0.0.1:0"})
	e := startServer(t, Config{Console: func(ctx context.Context, s Session) (tea.Model, error) {
		return tui.NewModel(ctx, tui.Options{DB: d, Server: scim, Actor: s.Actor, Remote: true})
	}}, keyLines...)
	return e, d, scim
}

// The console's copy (OSC 52) reaches the SSH client's terminal, an admin action is
// recorded with the key's comment and fingerprint, and q ends the session cleanly.
func TestConsoleOverSSH(t *testing.T) {
	alice := newTestKey(t, "alice@laptop")
	e, d, scim := consoleEnv(t, alice.line())
	con, err := openConsole(t, e.login(t, alice))
	if err != nil {
		t.Fatal(err)
	}
	con.waitFor(t, "SCIM URL")
	if n := scim.Subscribers(); n != 1 {
		t.Errorf("%d consoles follow the server's nudges, want 1", n)
	}

	con.in.Write([]byte("c"))
	osc52 := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(scim.SCIMURL()))
	con.waitFor(t, osc52)

	con.waitFor(t, "SCIM ○ off") // the switch is read: e acts on it
	con.in.Write([]byte("e"))    // enable SCIM, as alice
	var events []db.Event
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if events, err = d.EventsAfter(context.Background(), 0, 10); err == nil && len(events) > 0 {
			break
		}
	}
	want := "ssh:alice@laptop " + alice.fingerprint()
	if len(events) != 1 || events[0].Kind != "scim.enable" || events[0].Agent != want {
		t.Fatalf("audit log %+v, want scim.enable by %q", events, want)
	}

	con.in.Write([]byte("q"))
	if st := exitStatus(con.ended(t)); st != 0 {
		t.Errorf("q ended the session with status %d, want 0", st)
	}
	if strings.Contains(con.out.String(), "Quit?") {
		t.Error("q over SSH asked whether to stop the server")
	}
	// The closed console no longer follows the server: sessions come and go for months.
	for deadline := time.Now().Add(10 * time.Second); scim.Subscribers() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions left after the session ended", scim.Subscribers())
		}
	}
}
