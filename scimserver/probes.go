package scimserver

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Reads are not audited: an identity provider reads far more than it writes, and a write
// per read would queue every lookup behind the single writer. Two kinds of read matter to
// the admin all the same, and are recorded: the identity provider's connection test
// ("Test Connector Configuration" in Okta, "Test Connection" in Entra ID), which tab 1
// tells the admin to look for on the Activity tab, and the first request of each token,
// which says the token reached its identity provider. Both are decided in memory, before
// anything is written: a connection test is recorded at most once per token per probeEvery,
// and a first use once per token (when it is a write, its own event says it), so a storm
// of reads writes nothing more.

// probeEvery is how often a connection test is recorded per token, at most.
const probeEvery = time.Minute

// maxProbeTokens bounds the memory of the limiter. Only tokens that authenticated are
// counted, so it is reached only by a database with that many tokens in use.
const maxProbeTokens = 10000

// probeLog decides which reads are recorded.
type probeLog struct {
	mu    sync.Mutex
	every time.Duration // zero: probeEvery; tests in this package shorten it
	last  map[string]time.Time
	first map[string]struct{} // tokens whose first request was recorded by this process
}

// claimFirst reports whether the token's first request is still to be recorded, and
// claims it, so that requests arriving together record it once.
func (l *probeLog) claimFirst(tokenID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, done := l.first[tokenID]; done {
		return false
	}
	if l.first == nil || len(l.first) >= maxProbeTokens {
		l.first = map[string]struct{}{}
	}
	l.first[tokenID] = struct{}{}
	return true
}

// allowTest reports whether a connection test by this token at now is recorded.
func (l *probeLog) allowTest(tokenID string, now time.Time) bool {
	every := cmp.Or(l.every, probeEvery)
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.last[tokenID]; ok && now.Sub(at) < every {
		return false
	}
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	if len(l.last) >= maxProbeTokens {
		for id, at := range l.last {
			if now.Sub(at) >= every {
				delete(l.last, id)
			}
		}
	}
	l.last[tokenID] = now
	return true
}

// readStats is what a list handler tells the probe log about its answer.
type readStats struct{ total int }

type readStatsKey struct{}

// noteTotal records how many resources a list matched, for the probe log.
func noteTotal(ctx context.Context, total int) {
	if rs, ok := ctx.Value(readStatsKey{}).(*readStats); ok {
		rs.total = total
	}
}

// userNameLookup is a filter on one userName, as identity providers look users up.
var userNameLookup = regexp.MustCompile(`(?i)^\s*(urn:ietf:params:scim:schemas:core:2\.0:user:)?username\s+eq\s+"[^"]*"\s*$`)

// connectionTest says whether an answered request has the shape of an identity
// provider's connection test, and what it is:
//   - a read of the discovery documents (ServiceProviderConfig, ResourceTypes, Schemas);
//   - a list of one row (Okta's Test Connector Configuration: GET /Users?startIndex=1&count=1,
//     with or without a filter on a random userName);
//   - a userName lookup that found no one (Entra ID's Test Connection: a random userName).
//
// An identity provider's lookup before creating a user looks like the last one; the limit
// per token keeps those from filling the log during a sync.
func connectionTest(r *http.Request, status, total int) (string, bool) {
	if r.Method != http.MethodGet {
		return "", false
	}
	switch requestResource(r.URL.Path) {
	case ResourceDiscovery:
		return "a read of the server's capabilities, as identity providers make when testing the connection", true
	case ResourceUsers, ResourceGroups:
		if r.PathValue("id") != "" {
			return "", false // one resource by id: not a test
		}
		q := r.URL.Query()
		if c := q.Get("count"); c == "1" || c == "0" {
			return "a read of one row, as Okta's Test Connector Configuration sends", true
		}
		if requestResource(r.URL.Path) == ResourceUsers && userNameLookup.MatchString(q.Get("filter")) && (total == 0 || status >= 400) {
			return "a userName lookup that found no one, as Entra ID's Test Connection sends", true
		}
	}
	return "", false
}

// isRead reports whether a request only reads: GET (HEAD arrives as GET) or a .search.
func isRead(r *http.Request) bool {
	return r.Method == http.MethodGet || requestResource(r.URL.Path) == ResourceSearch
}

// requestLine is the method, path (under the SCIM base URL) and query of a request, for
// an event's subject.
func requestLine(r *http.Request) string {
	s := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/scim/v2")
	if r.URL.RawQuery != "" {
		q, err := url.QueryUnescape(r.URL.RawQuery)
		if err != nil {
			q = r.URL.RawQuery
		}
		s += "?" + q
	}
	return truncate(s, 160)
}

// observeRead records, after a request was answered, the connection test it was or the
// first use of its token, within the limits above. first is the claim made for it.
func (s *Server) observeRead(ctx context.Context, r *http.Request, c *call, status int, rs *readStats, first bool) {
	desc, test := connectionTest(r, status, rs.total)
	if test && !s.probes.allowTest(c.tokenID, time.Now()) {
		test = false
	}
	switch {
	case test:
		summary := "connection test: " + desc
		if first {
			summary += "; the first request with this token"
		}
		s.record(ctx, c.event("scim.test", requestLine(r), status, summary))
	case first && isRead(r):
		// A first request that writes needs no event of its own: its write has one.
		s.record(ctx, c.event("token.first-use", requestLine(r), status,
			"the first request with token "+c.tokenID+": the identity provider has it"))
	}
}
