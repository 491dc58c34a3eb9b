package scimserver

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// RequestObserver is told about every request the server answers, once, after the
// response is written: to count and time requests for monitoring without this package
// knowing how. It is called on the request's goroutine, so it must be quick and safe
// for concurrent use. resource is one of Resources and method one of Methods, whatever
// the client sent, so that a hostile URL cannot make an observer keep a new series.
type RequestObserver interface {
	ObserveRequest(resource, method string, status int, elapsed time.Duration)
}

// What a request asked for, as told to a RequestObserver.
const (
	ResourceUsers     = "Users"     // /scim/v2/Users and /scim/v2/Users/{id}
	ResourceGroups    = "Groups"    // /scim/v2/Groups and /scim/v2/Groups/{id}
	ResourceSearch    = ".search"   // POST .search at the root, under Users or under Groups
	ResourceDiscovery = "discovery" // ServiceProviderConfig, ResourceTypes, Schemas
	ResourceSetup     = "setup"     // the setup API that scimdesk setup talks to
	ResourceOther     = "other"     // everything else, health checks and unknown paths included
)

// Resources lists every resource a RequestObserver can be told.
var Resources = []string{ResourceUsers, ResourceGroups, ResourceSearch, ResourceDiscovery, ResourceSetup, ResourceOther}

// MethodOther stands for every method not in Methods.
const MethodOther = "other"

// Methods lists every method a RequestObserver can be told.
var Methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, MethodOther}

// requestResource sorts a request path into one of Resources.
func requestResource(path string) string {
	if path == "/setup/v1" || strings.HasPrefix(path, "/setup/v1/") {
		return ResourceSetup
	}
	rest, ok := strings.CutPrefix(path, "/scim/v2/")
	if !ok {
		return ResourceOther
	}
	first, sub, _ := strings.Cut(rest, "/")
	switch first {
	case "Users", "Groups":
		if sub == ".search" {
			return ResourceSearch
		}
		if first == "Users" {
			return ResourceUsers
		}
		return ResourceGroups
	case ".search":
		if sub == "" {
			return ResourceSearch
		}
	case "ServiceProviderConfig":
		if sub == "" {
			return ResourceDiscovery
		}
	case "ResourceTypes", "Schemas":
		return ResourceDiscovery
	}
	return ResourceOther
}

// requestMethod is the method as one of Methods.
func requestMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return m
	}
	return MethodOther
}

// RequestIDHeader carries a request's id in the response (and, optionally, in the request,
// from a proxy that already gave it one).
const RequestIDHeader = "X-Request-Id"

// maxRequestIDBytes bounds an id taken from the client: long enough for a UUID or a
// proxy's id, short enough that log lines stay small.
const maxRequestIDBytes = 64

type requestIDKey struct{}

// requestID is the id of this request: the client's own X-Request-Id when it is short and
// plain (a reverse proxy's id then ties its log to ours), else a new random one. An id
// with any other byte is ignored rather than cleaned, so that nothing the client chose
// beyond [A-Za-z0-9._-] reaches the log.
func requestID(r *http.Request) string {
	if v := r.Header.Get(RequestIDHeader); plainID(v) {
		return v
	}
	const hex = "0123456789abcdef"
	var b [16]byte
	// Not a secret, only unique enough to tell requests apart in a log: the runtime's
	// per-thread generator costs no system call and no lock.
	n := rand.Uint64()
	for i := range b {
		b[i] = hex[n&15]
		n >>= 4
	}
	return string(b[:])
}

func plainID(v string) bool {
	if v == "" || len(v) > maxRequestIDBytes {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// RequestID is the id of the request being served with ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestIDHandler adds the request id, when the context has one, to every line logged
// with a *Context method, whatever the handler below writes (text or JSON).
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestID(ctx); id != "" {
		rec.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// withRequestIDs wraps log so that lines logged for a request carry its id.
func withRequestIDs(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(requestIDHandler); ok {
		return log
	}
	return slog.New(requestIDHandler{log.Handler()})
}
