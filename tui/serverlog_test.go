package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
)

// TestFlowAttachedConsoleNamesTheServersLog: a console attached to a server in another
// process names the log that process writes, from its heartbeat, and never its own file,
// which the server does not write.
func TestFlowAttachedConsoleNamesTheServersLog(t *testing.T) {
	const own = "/home/admin/.local/share/scimdesk/scimdesk.log"
	for _, c := range []struct{ log, want string }{
		{"/var/log/scimdesk/serve.log", "server log /var/log/scimdesk/serve.log (pid 4242)"},
		{db.LogJournal, "server log: journalctl _PID=4242"},
		{db.LogStderr, "server log: the stderr of pid 4242"},
	} {
		t.Run(c.log, func(t *testing.T) {
			d := testDB(t)
			now := time.Now()
			if err := d.WriteHeartbeat(context.Background(), db.Heartbeat{Instance: "i4242", PID: 4242, Addr: "127.0.0.1:8080", PublicURL: "https://scim.example.com",
				Started: now, Beat: now, Log: c.log}); err != nil {
				t.Fatal(err)
			}
			s := startTerm(t, newApp(testDeps(t, d, Options{AttachedPID: 4242, LogPath: own})), 100, 24)
			scr := s.waitScreen("attached to the server running in pid 4242", c.want)
			if strings.Contains(scr, own) {
				t.Errorf("the attached console names its own log file:\n%s", scr)
			}
		})
	}
}

// An attached console shows the SSH console of the server it is attached to (address and
// host key fingerprint, from the heartbeat), as that server's own consoles do.
func TestFlowAttachedConsoleShowsTheServersSSH(t *testing.T) {
	d := testDB(t)
	now := time.Now()
	const fp = "SHA256:lr4X8ZXb6q1C9/zJ3FCEfn8onB+ckz0eZ2EBEUFGCMI"
	if err := d.WriteHeartbeat(context.Background(), db.Heartbeat{Instance: "i4242", PID: 4242, Addr: "127.0.0.1:8080", Started: now, Beat: now,
		SSHAddr: "[::]:2222", SSHHostKey: fp}); err != nil {
		t.Fatal(err)
	}
	s := startTerm(t, newApp(testDeps(t, d, Options{AttachedPID: 4242})), 120, 30)
	s.waitScreen("attached to the server running in pid 4242", "SSH       console on [::]:2222 · host key "+fp)
}
