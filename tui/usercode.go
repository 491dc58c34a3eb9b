package tui

import (
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// What the Users tab tells of the setup or recovery code a user holds: whether one is
// live, when it was issued, how many wrong emails it survives, and when it expires. The
// code of the selected user is read when the cursor lands on them (one indexed lookup),
// and read again when the audit log says codes may have changed.

// codeStateMsg is the code a user holds, read from the database.
type codeStateMsg struct {
	UserID string
	Code   db.SetupCode
	Found  bool // false: the user never had one
	Err    error
	// Invite is the user's latest emailed invitation, if Invited.
	Invite  db.Invitation
	Invited bool
	// Gen is the users tab's codeGen when the read began: a read begun before the tab
	// forgot what it knew (a change since) is older than what it may read next, and is
	// dropped if it arrives late.
	Gen int
}

// loadCode reads the code the user holds (live, used or dead).
func loadCode(d *deps, userID string, gen int) tea.Cmd {
	return func() tea.Msg {
		inv, ierr := d.store.LatestInvite(d.ctx, userID)
		if errors.Is(ierr, db.ErrNotFound) {
			ierr = nil
		}
		c, err := d.store.SetupCodeOf(d.ctx, userID)
		if errors.Is(err, db.ErrNotFound) {
			err = nil
		}
		return codeStateMsg{UserID: userID, Code: c, Found: err == nil && !c.Created.IsZero(), Err: errors.Join(err, ierr),
			Invite: inv, Invited: ierr == nil && inv.ID != 0, Gen: gen}
	}
}

// codeWord names a code by its purpose.
func codeWord(purpose string) string {
	if purpose == db.PurposeRecover {
		return "recovery code"
	}
	return "setup code"
}

// codeSummary is the state of the code a user holds, in one short phrase for the line
// under the list: "setup code live: 5 tries left, expires in 23h".
func codeSummary(m codeStateMsg, now time.Time) string {
	c := m.Code
	w := codeWord(c.Purpose)
	switch {
	case !m.Found:
		return "no code issued"
	case !c.Used.IsZero():
		return w + " used " + clock(now, c.Used)
	case c.AttemptsLeft <= 0:
		return w + " dead (too many wrong emails)"
	case !now.Before(c.Expires):
		return w + " expired " + clock(now, c.Expires)
	}
	return fmt.Sprintf("%s live: %s left, expires %s", w, plural(c.AttemptsLeft, "try", "tries"), until(now, c.Expires))
}

// codeDetail is the state of the code a user holds, in full, for the user's page.
func codeDetail(m codeStateMsg, now time.Time) [2]string {
	c := m.Code
	label := "Code"
	if m.Found {
		label = "Setup code"
		if c.Purpose == db.PurposeRecover {
			label = "Recovery code"
		}
	}
	issued := "issued " + stamp(c.Created)
	switch {
	case !m.Found:
		return [2]string{label, "none issued"}
	case !c.Used.IsZero():
		return [2]string{label, "used " + stamp(c.Used) + " (" + issued + ")"}
	case c.AttemptsLeft <= 0:
		return [2]string{label, "dead: too many wrong emails typed with it (" + issued + "); i issues a new one"}
	case !now.Before(c.Expires):
		return [2]string{label, "expired " + stamp(c.Expires) + " (" + issued + "); i issues a new one"}
	}
	return [2]string{label, fmt.Sprintf("live: %s, %d of %d attempts left, expires %s (%s)",
		issued, c.AttemptsLeft, db.SetupCodeAttempts, stamp(c.Expires), until(now, c.Expires))}
}

// issueCode mints a one-time setup or recovery code for a user, voiding any earlier one.
func issueCode(d *deps, userID, purpose string) tea.Cmd {
	return func() tea.Msg {
		c, code, err := d.store.IssueSetupCode(d.ctx, userID, purpose, d.actor)
		return setupCodeMsg{Code: c, Secret: code, Err: err}
	}
}

// keyEvent is the audit log's kind for a user finishing setup or recovery with a code of
// this purpose (the setup API records it).
func keyEvent(purpose string) string {
	if purpose == db.PurposeRecover {
		return "user.key_recover"
	}
	return "user.key_setup"
}
