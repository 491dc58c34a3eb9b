package db

import (
	"slices"
	"time"
)

// HiddenAfter is how long a token that stopped working (revoked, or expired, rotated-away
// tokens included once their overlap ends) stays in the default token lists. After it,
// `token list` and the console hide it unless asked for all; the row stays in the
// database, and in the audit log, for good.
const HiddenAfter = 7 * 24 * time.Hour

// Ended is when the token stopped working (revoked or expired), or zero if it still works
// at now.
func (t Token) Ended(now time.Time) time.Time {
	end := t.Revoked
	if !t.Expires.IsZero() && !now.Before(t.Expires) && (end.IsZero() || t.Expires.Before(end)) {
		end = t.Expires
	}
	return end
}

// Hidden reports whether the default lists leave the token out at now: it stopped working
// more than HiddenAfter ago.
func (t Token) Hidden(now time.Time) bool {
	end := t.Ended(now)
	return !end.IsZero() && now.Sub(end) > HiddenAfter
}

// Visible returns the tokens the default lists show at now, in their order.
func Visible(tokens []Token, now time.Time) []Token {
	out := make([]Token, 0, len(tokens))
	for _, t := range tokens {
		if !t.Hidden(now) {
			out = append(out, t)
		}
	}
	return out
}

// DaysLeft is the number of days until the token expires, a part of a day counting as a
// day (a token made for 10 days has 10 days left, not 9, a minute after), 0 once expired;
// it is meaningful only for a token with an expiry.
func (t Token) DaysLeft(now time.Time) int {
	left := t.Expires.Sub(now)
	if left <= 0 {
		return 0
	}
	const day = 24 * time.Hour
	return int((left + day - 1) / day)
}

// ExpiringTokens returns the tokens to warn about at now, soonest first: those in the
// TokenExpiring state, that is, working, not rotated away (the admin has dealt with those),
// and expiring within ExpiringSoon.
func ExpiringTokens(tokens []Token, now time.Time) []Token {
	var out []Token
	for _, t := range tokens {
		if t.Status(now) == TokenExpiring {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b Token) int { return a.Expires.Compare(b.Expires) })
	return out
}

// TokenSummary is the token figures a monitor needs.
type TokenSummary struct {
	// ByState counts the tokens in each of TokenStates (every state is present).
	ByState map[string]int
	// EarliestExpiry is the soonest expiry among the tokens in service (active or
	// expiring; rotated-away tokens are on their way out by design); zero if none of them
	// expires.
	EarliestExpiry time.Time
	// Expiring is ExpiringTokens: the tokens to warn about.
	Expiring []Token
}

// SummarizeTokens counts tokens by state at now and finds the earliest expiry in service.
func SummarizeTokens(tokens []Token, now time.Time) TokenSummary {
	s := TokenSummary{ByState: make(map[string]int, len(TokenStates)), Expiring: ExpiringTokens(tokens, now)}
	for _, st := range TokenStates {
		s.ByState[st] = 0
	}
	for _, t := range tokens {
		st := t.Status(now)
		s.ByState[st]++
		if (st == TokenActive || st == TokenExpiring) && !t.Expires.IsZero() &&
			(s.EarliestExpiry.IsZero() || t.Expires.Before(s.EarliestExpiry)) {
			s.EarliestExpiry = t.Expires
		}
	}
	return s
}
