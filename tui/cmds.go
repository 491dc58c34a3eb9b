package tui

import (
	"context"
	"errors"
	"slices"
	"time"

	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// All I/O of the console is here, in Cmds that return a result message. Update and View
// never touch the database.

const (
	pollEvery   = 5 * time.Second // a fallback: changes wake the console (newDeps)
	historySize = 300             // events read at start
	tailLimit   = 500             // events read per poll; more are read at once by the next poll
	pageSize    = 200             // rows of a long list held around the cursor
	debounce    = 150 * time.Millisecond
	statusFor   = 5 * time.Second
)

// report shows a line in the status bar.
func report(l level, text string) tea.Cmd {
	return func() tea.Msg { return statusMsg{Level: l, Text: text} }
}

// reportErr shows what went wrong while doing what, and what to do about it.
func reportErr(what string, err error) tea.Cmd {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return report(levelErr, explain(what, err))
}

// tick fires the next poll.
func tick() tea.Cmd {
	return tea.Tick(pollEvery, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// waitNotify waits for the in-process server's next nudge; Update arms it again each time.
func waitNotify(ctx context.Context, ch <-chan struct{}) tea.Cmd {
	return func() tea.Msg {
		select {
		case <-ch:
			return notifyMsg{}
		case <-ctx.Done():
			return nil
		}
	}
}

// poll reads the events after lastID (or, initially, the recent history), the heartbeats
// and the SCIM switch: three indexed reads, cheap enough to run every second.
func poll(d *deps, lastID int64, initial bool) tea.Cmd {
	return func() tea.Msg {
		ctx := d.ctx
		var m pollMsg
		m.Initial = initial
		if initial {
			ev, err := d.store.EventsBefore(ctx, 0, historySize)
			if err != nil {
				return pollMsg{Initial: true, Err: err}
			}
			slices.Reverse(ev)
			m.Events = ev
		} else {
			ev, err := d.store.EventsAfter(ctx, lastID, tailLimit)
			if err != nil {
				return pollMsg{Err: err}
			}
			m.Events, m.More = ev, len(ev) == tailLimit
		}
		var err error
		if m.Heartbeats, err = d.store.ReadHeartbeats(ctx); err != nil {
			m.Err = err
		}
		on, err := d.store.SCIMEnabled(ctx)
		if err != nil {
			m.Err = err
		}
		m.SCIMOn = on
		if m.OIDC, err = d.store.OIDCConfig(ctx); err != nil {
			m.Err = err
		}
		return m
	}
}

// olderEvents reads the page of the audit log before the oldest event held.
func olderEvents(d *deps, beforeID int64) tea.Cmd {
	return func() tea.Msg {
		ev, err := d.store.EventsBefore(d.ctx, beforeID, pageSize)
		return olderEventsMsg{Events: ev, Err: err}
	}
}

// setSCIM switches SCIM provisioning on or off, as the admin.
func setSCIM(d *deps, on bool) tea.Cmd {
	return func() tea.Msg {
		return scimSetMsg{On: on, Err: d.store.SetSCIMEnabled(d.ctx, on, d.actor)}
	}
}

// loadTokens reads all tokens (there are a handful).
func loadTokens(d *deps) tea.Cmd {
	return func() tea.Msg {
		t, err := d.store.Tokens(d.ctx)
		return tokensMsg{Tokens: t, Err: err}
	}
}

// createToken mints a token; its secret travels in the message and nowhere else.
func createToken(d *deps, description string, ttl time.Duration) tea.Cmd {
	return func() tea.Msg {
		t, secret, err := d.store.CreateToken(d.ctx, description, ttl, d.actor)
		return tokenCreatedMsg{Token: t, Secret: secret, Err: err}
	}
}

// revokeToken revokes a token at once.
func revokeToken(d *deps, id string) tea.Cmd {
	return func() tea.Msg {
		return tokenRevokedMsg{ID: id, Err: d.store.RevokeToken(d.ctx, id, d.actor)}
	}
}

// rotateToken replaces a token with a new one; the old one keeps working for overlap.
// The new secret travels in the message and nowhere else.
func rotateToken(d *deps, id string, overlap time.Duration) tea.Cmd {
	return func() tea.Msg {
		r, secret, err := d.store.RotateToken(d.ctx, id, overlap, d.actor)
		return tokenRotatedMsg{Rotation: r, Secret: secret, Err: err}
	}
}

// issueSetupCode mints a one-time setup code for a pending user, voiding any earlier one.
func issueSetupCode(d *deps, userID string) tea.Cmd {
	return func() tea.Msg {
		c, code, err := d.store.IssueSetupCode(d.ctx, userID, db.PurposeSetup, d.actor)
		return setupCodeMsg{Code: c, Secret: code, Err: err}
	}
}

// loadUsers reads one page of a user list, newest first, and with counts the number of
// users per status. ctx is the request's own, so that a newer request can cancel it.
func loadUsers(ctx context.Context, d *deps, owner string, seq int, w db.Where, offset int, counts bool) tea.Cmd {
	return func() tea.Msg {
		m := usersMsg{Owner: owner, Seq: seq, Offset: offset}
		m.Rows, m.Total, m.Err = d.store.ListUsers(ctx, w, db.Page{Desc: true, Offset: offset, Limit: pageSize})
		if m.Err == nil && counts {
			c, err := d.store.CountUsersByStatus(ctx)
			m.Counts, m.Err = &c, err
		}
		return m
	}
}

// loadGroups reads one page of the group list, in creation order.
func loadGroups(ctx context.Context, d *deps, owner string, seq int, w db.Where, offset int) tea.Cmd {
	return func() tea.Msg {
		m := groupsMsg{Owner: owner, Seq: seq, Offset: offset}
		m.Rows, m.Total, m.Err = d.store.ListGroups(ctx, w, db.Page{Offset: offset, Limit: pageSize})
		return m
	}
}

// debounced fires a debounceMsg after the typing pause.
func debounced(owner string, seq int) tea.Cmd {
	return tea.Tick(debounce, func(time.Time) tea.Msg { return debounceMsg{Owner: owner, Seq: seq} })
}

// expireStatus clears the status line numbered seq after a while; errors stay longer, so
// the admin has time to read what to do.
func expireStatus(seq int, l level) tea.Cmd {
	d := statusFor
	if l == levelErr {
		d = 6 * statusFor
	}
	return tea.Tick(d, func(time.Time) tea.Msg { return statusExpiredMsg{Seq: seq} })
}
