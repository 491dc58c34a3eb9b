package tui

import (
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// Onboarding: where the pending users stand (tab 1's counts), the invitation by email of
// each (the Users tab, beside the code it holds), and the admin's actions: email one user
// (m on the Users tab) or every pending user with nothing out (m on tab 1). Invitations
// are queued in the database; the server's mail worker (--smtp-url) sends them.

// onboardingMsg is where the pending users stand, read from the database.
type onboardingMsg struct {
	Counts db.OnboardingCounts
	At     time.Time
	Err    error
}

// onboardingEvery is how often tab 1 counts again without a change: codes expire on
// their own, with no event to say so.
const onboardingEvery = 30 * time.Second

func loadOnboarding(d *deps) tea.Cmd {
	return func() tea.Msg {
		now := d.now()
		c, err := d.store.CountOnboarding(d.ctx, now)
		return onboardingMsg{Counts: c, At: now, Err: err}
	}
}

// invitedMsg is the answer to the admin's invitation of one user.
type invitedMsg struct {
	UserName string
	Queued   bool
	Err      error
}

func inviteOne(d *deps, userID, userName string) tea.Cmd {
	return func() tea.Msg {
		ok, err := d.store.InviteUser(d.ctx, userID, d.actor)
		return invitedMsg{UserName: userName, Queued: ok, Err: err}
	}
}

// invitedAllMsg is the answer to the admin's invitation of every pending user.
type invitedAllMsg struct {
	Queued, NoAddress int
	Err               error
}

func inviteAll(d *deps) tea.Cmd {
	return func() tea.Msg {
		q, n, err := d.store.InviteAllPending(d.ctx, d.actor)
		return invitedAllMsg{Queued: q, NoAddress: n, Err: err}
	}
}

// reportInvited tells the admin what queueing one invitation did.
func reportInvited(m invitedMsg) tea.Cmd {
	who := clean(m.UserName)
	switch {
	case errors.Is(m.Err, db.ErrNoAddress):
		return report(levelErr, who+" has no email address: issue a setup code (i) and hand it over instead.")
	case m.Err != nil:
		return reportErr("Inviting "+who, m.Err)
	case !m.Queued:
		return report(levelInfo, "An invitation for "+who+" is already on its way; nothing new queued.")
	}
	return report(levelOK, "Invitation for "+who+" queued: the server sends it with a new setup code (--smtp-url).")
}

// reportInvitedAll tells the admin what the bulk invitation did.
func reportInvitedAll(m invitedAllMsg) tea.Cmd {
	if m.Err != nil {
		return reportErr("Inviting the pending users", m.Err)
	}
	s := plural(m.Queued, "invitation", "invitations") + " queued: the server sends each with a new setup code (--smtp-url)."
	if m.Queued == 0 {
		s = "No invitation queued: every pending user with an email address has a code or an invitation out."
	}
	if m.NoAddress > 0 {
		s += " " + plural(m.NoAddress, "pending user has", "pending users have") + " no email address: issue them codes on tab 3 (i)."
	}
	return report(levelOK, s)
}

// inviteSummary is the state of a user's latest invitation in a short phrase for the
// line under the user list; "" when they never had one.
func inviteSummary(inv db.Invitation, found bool, now time.Time) string {
	if !found {
		return ""
	}
	switch inv.State() {
	case "sent":
		return "invitation emailed " + clock(now, inv.Sent)
	case "failed":
		return "invitation failed: " + clean(inv.LastError)
	case "retrying":
		// The error itself is on the user's page (enter): the line has no room for it.
		return fmt.Sprintf("invitation not sent yet (%s)", plural(inv.Attempts, "attempt", "attempts"))
	}
	return "invitation queued " + clock(now, inv.Created)
}

// inviteDetail is the state of a user's latest invitation in full, for the user's page.
func inviteDetail(inv db.Invitation, found bool, now time.Time) [2]string {
	const label = "Invitation"
	if !found {
		return [2]string{label, "none (m emails one, with a new setup code)"}
	}
	to := " to " + clean(inv.Address)
	switch inv.State() {
	case "sent":
		what := "its code expires " + stamp(inv.CodeExpires)
		if inv.CodeExpires.IsZero() {
			what = "no code: they sign in with the identity provider"
		}
		return [2]string{label, fmt.Sprintf("emailed%s %s (attempt %d); %s", to, stamp(inv.Sent), inv.Attempts, what)}
	case "failed":
		return [2]string{label, fmt.Sprintf("given up%s %s after %s: %s", to, stamp(inv.Failed),
			plural(inv.Attempts, "attempt", "attempts"), clean(inv.LastError))}
	case "retrying":
		return [2]string{label, fmt.Sprintf("not sent yet%s: %s; %s, next %s (queued %s)", to, clean(inv.LastError),
			plural(inv.Attempts, "attempt", "attempts"), until(now, inv.NextAt), stamp(inv.Created))}
	}
	return [2]string{label, "queued" + to + " " + stamp(inv.Created) + "; the server with --smtp-url sends it"}
}

// onboardingLine is tab 1's account of the pending users.
func onboardingLine(st *styles, c db.OnboardingCounts) string {
	if c.Pending == 0 {
		return st.Dim.Render("no pending users")
	}
	s := plural(c.Pending, "user", "users") + ": " +
		st.Warn.Render(commas(c.NothingOut)+" with nothing out") + " · " +
		plural(c.CodesOut, "code", "codes") + " out · " + commas(c.Expired) + " expired"
	if c.Queued > 0 {
		s += " · " + commas(c.Queued) + " invitations queued"
	}
	if c.Failed > 0 {
		s += " · " + st.Fail.Render(commas(c.Failed)+" failed")
	}
	if c.NothingOut > 0 {
		s += st.Dim.Render(" · m emails them codes")
	}
	return s
}
