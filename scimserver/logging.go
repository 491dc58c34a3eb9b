package scimserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Anyone who can reach the port can make requests fail, as fast as the network allows and
// with paths and headers as long as the server accepts (64 KiB), so the server's log of
// failures must neither grow with the attacker's effort nor copy what they sent in full.
// Each kind of line (a failed request's status, a net/http error) gets a few lines a window;
// the rest are counted and summed up in one line when the window closes. Every value that
// came from the client is truncated.
const (
	logWindow   = time.Minute
	logPerKind  = 5
	logMaxKinds = 32 // kinds are chosen by the server, but keep the map bounded regardless

	logValueBytes  = 120 // path, user agent, sample
	logMethodBytes = 16  // net/http accepts any token as a method, up to the header limit
)

// statusWriter remembers the status of a response for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	sw.status = code
	sw.ResponseWriter.WriteHeader(code)
}

// logged gives every request an id (sent back as X-Request-Id and added to every line
// logged for it), tells the observer about it, and writes a log line for requests that
// fail (4xx and 5xx), so that an admin debugging an identity provider at 2 a.m. finds the
// refused lookups too (the audit log has writes, and of reads only connection tests and first uses). The Authorization header and the
// query string are never logged: the query can carry people's names and addresses in
// filters. Lines are throttled per status.
func (s *Server) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		w.Header().Set(RequestIDHeader, id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if obs := s.cfg.Observer; obs != nil {
			obs.ObserveRequest(requestResource(r.URL.Path), requestMethod(r.Method), sw.status, time.Since(start))
		}
		if sw.status < 400 {
			return
		}
		method, path, agent := truncate(r.Method, logMethodBytes), truncate(r.URL.Path, logValueBytes), truncate(r.UserAgent(), logValueBytes)
		addr := clientAddr(r)
		sample := func() string { return method + " " + path + " from " + addr + " (" + agent + ")" }
		if s.logLimit.allow(s.log, "status "+strconv.Itoa(sw.status), sample) {
			s.log.InfoContext(r.Context(), "request failed", "method", method, "path", path, "status", sw.status,
				"addr", addr, "agent", agent, "ms", time.Since(start).Milliseconds())
		}
	})
}

// httpErrorLog receives net/http's own error lines (TLS handshake failures, bad requests
// it answers itself, accept errors), which a client can also cause at will.
type httpErrorLog struct{ s *Server }

func (l httpErrorLog) Write(p []byte) (int, error) {
	msg := truncate(strings.TrimSpace(string(p)), 2*logValueBytes)
	// The kind is the fixed start of net/http's message ("http: TLS handshake error"),
	// before the client's address.
	kind, _, _ := strings.Cut(msg, " from ")
	kind = truncate(kind, 40)
	if l.s.logLimit.allow(l.s.log, kind, func() string { return msg }) {
		l.s.log.Warn(msg)
	}
	return len(p), nil
}

// logLimiter lets logPerKind lines of each kind through per window and counts the rest;
// the first line of a window after a suppression, or the heartbeat, writes the summary.
type logLimiter struct {
	window time.Duration // logWindow; shorter in tests

	mu    sync.Mutex
	ends  time.Time
	kinds map[string]*logKind
}

type logKind struct {
	logged     int
	suppressed int
	sample     string // the first suppressed line, in a few words
}

// allow reports whether a line of this kind may be written now. sample describes the
// line; it is called only for the first suppressed line of a kind in a window.
func (l *logLimiter) allow(log *slog.Logger, kind string, sample func() string) bool {
	l.mu.Lock()
	summary := l.closeIfOver(time.Now())
	k := l.kinds[kind]
	if k == nil {
		if len(l.kinds) >= logMaxKinds {
			kind = "other"
		}
		if k = l.kinds[kind]; k == nil {
			k = &logKind{}
			l.kinds[kind] = k
		}
	}
	ok := k.logged < logPerKind
	if ok {
		k.logged++
	} else {
		k.suppressed++
		if k.sample == "" {
			k.sample = truncate(sample(), 2*logValueBytes)
		}
	}
	l.mu.Unlock()
	writeSummary(log, summary)
	return ok
}

// flush writes the summary of a window that is over, so that a flood that stopped is
// still reported (called with the heartbeat).
func (l *logLimiter) flush(log *slog.Logger) {
	l.mu.Lock()
	summary := l.closeIfOver(time.Now())
	l.mu.Unlock()
	writeSummary(log, summary)
}

// closeIfOver starts a new window if the current one is over, and returns the suppressed
// kinds of the old one. l.mu is held.
func (l *logLimiter) closeIfOver(now time.Time) map[string]*logKind {
	if now.Before(l.ends) {
		return nil
	}
	if l.window <= 0 {
		l.window = logWindow
	}
	var out map[string]*logKind
	for kind, k := range l.kinds {
		if k.suppressed > 0 {
			if out == nil {
				out = map[string]*logKind{}
			}
			out[kind] = k
		}
	}
	l.kinds = map[string]*logKind{}
	l.ends = now.Add(l.window)
	return out
}

func writeSummary(log *slog.Logger, kinds map[string]*logKind) {
	if len(kinds) == 0 {
		return
	}
	names := make([]string, 0, len(kinds))
	for kind := range kinds {
		names = append(names, kind)
	}
	sort.Strings(names)
	var counts, samples []string
	total := 0
	for _, kind := range names {
		k := kinds[kind]
		total += k.suppressed
		counts = append(counts, fmt.Sprintf("%s: %d", kind, k.suppressed))
		samples = append(samples, kind+": "+k.sample)
	}
	log.Warn("log lines suppressed", "count", total, "kinds", strings.Join(counts, ", "),
		"samples", strings.Join(samples, "; "))
}

// logErr logs a failure of ours (a database error, a write past its budget), throttled
// like failed requests: a client with a token can cause such failures at will, and must
// not be able to push everything else out of the rotated log. A client that went away
// before its request was served is not a failure of ours and is not logged.
func (s *Server) logErr(ctx context.Context, msg string, err error, args ...any) {
	if errors.Is(err, context.Canceled) {
		return
	}
	if s.logLimit.allow(s.log, "error "+msg, func() string { return msg + ": " + truncate(err.Error(), logValueBytes) }) {
		s.log.ErrorContext(ctx, msg, append(args, "err", err)...)
	}
}
