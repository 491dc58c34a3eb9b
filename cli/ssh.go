package cli

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
	"scimdesk/service"
	"scimdesk/sshconsole"
	"scimdesk/tui"
)

// sshFlags serve the console over SSH from `scimdesk serve`.
type sshFlags struct {
	SSHAddr           string        `name:"ssh-addr" help:"Also serve the console over SSH here, e.g. :2222; admins connect with ssh -p 2222 HOST (needs --ssh-authorized-keys)." env:"SCIMDESK_SSH_ADDR" placeholder:"ADDR"`
	SSHAuthorizedKeys string        `name:"ssh-authorized-keys" help:"OpenSSH authorized-keys file of the admins allowed on the SSH console (public keys only; read again when it changes)." env:"SCIMDESK_SSH_AUTHORIZED_KEYS" placeholder:"FILE"`
	SSHIdleTimeout    time.Duration `name:"ssh-idle-timeout" help:"Close an SSH console after this long without a key press." default:"15m" env:"SCIMDESK_SSH_IDLE_TIMEOUT"`
	SSHMaxSessions    int           `name:"ssh-max-sessions" help:"Most SSH consoles open at once; one more is told so and closed." default:"10" env:"SCIMDESK_SSH_MAX_SESSIONS" placeholder:"N"`
}

// sshConfig is the SSH console's configuration, nil without --ssh-addr. Each session's
// console is built over the service that svc will point to once made (sessions only start
// after it runs).
func (f *sshFlags) sshConfig(d *db.DB, svc **service.Service, logPath, downloadURL string) (*sshconsole.Config, error) {
	if f.SSHAddr == "" {
		if f.SSHAuthorizedKeys != "" {
			return nil, fmt.Errorf("--ssh-authorized-keys without --ssh-addr: say where to serve the console over SSH, e.g. --ssh-addr :2222")
		}
		return nil, nil
	}
	if f.SSHIdleTimeout <= 0 {
		return nil, fmt.Errorf("--ssh-idle-timeout %s: give a positive duration, e.g. 15m", f.SSHIdleTimeout)
	}
	if f.SSHMaxSessions < 1 {
		return nil, fmt.Errorf("--ssh-max-sessions %d: give at least 1", f.SSHMaxSessions)
	}
	return &sshconsole.Config{
		Addr: f.SSHAddr, AuthorizedKeys: f.SSHAuthorizedKeys,
		IdleTimeout: f.SSHIdleTimeout, MaxSessions: f.SSHMaxSessions,
		Console: func(ctx context.Context, s sshconsole.Session) (tea.Model, error) {
			ssh := (*svc).SSH()
			return tui.NewModel(ctx, tui.Options{
				DB: d, Server: (*svc).SCIM(), LogPath: logPath, Actor: s.Actor, Remote: true, DownloadURL: downloadURL,
				SSH: tui.SSHInfo{Addr: ssh.Addr(), Fingerprint: ssh.Fingerprint()},
			})
		},
	}, nil
}
