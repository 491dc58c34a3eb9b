package scimserver

import (
	"context"
	"errors"

	"scimdesk/db"
)

// queueInvite queues an emailed invitation for u in the transaction that created or
// re-activated it, when Config.InviteAuto says so. It reports whether one was queued. A
// user who cannot be invited (no address, created inactive) is no error of the request:
// the console shows them as pending with nothing out, for the admin to decide.
func (s *Server) queueInvite(ctx context.Context, tx *db.Tx, u db.User, reason string) (bool, error) {
	if !s.cfg.InviteAuto {
		return false, nil
	}
	ok, err := tx.EnqueueInvite(ctx, u, reason, "scim")
	if errors.Is(err, db.ErrNoAddress) || errors.Is(err, db.ErrUserDeactivated) || errors.Is(err, db.ErrUserReady) {
		return false, nil
	}
	return ok, err
}

// invited tells the mail worker, after the commit, that an invitation waits.
func (s *Server) invited(queued bool) {
	if queued && s.cfg.Invited != nil {
		s.cfg.Invited()
	}
}

// inviteNote is what the audit summary of a change adds when it queued an invitation.
func inviteNote(queued bool) string {
	if queued {
		return " (invitation by email queued)"
	}
	return ""
}
