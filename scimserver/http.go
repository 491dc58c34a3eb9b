package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"scimdesk/db"
)

// MaxBodyBytes is the largest request body accepted (RFC 7644 leaves it to the server).
const MaxBodyBytes = 1 << 20

// contentType is what every SCIM response says it is, exactly.
const contentType = "application/scim+json"

// Handler is the server's whole HTTP surface.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	scim := func(pattern string, h func(w http.ResponseWriter, r *http.Request, c *call)) {
		mux.Handle(pattern, s.authenticated(h))
	}
	users := endpoints{list: s.listUsers, create: s.createUser, get: s.getUser,
		replace: s.replaceUser, patch: s.patchUser, remove: s.deleteUser}
	groups := endpoints{list: s.listGroups, create: s.createGroup, get: s.getGroup,
		replace: s.replaceGroup, patch: s.patchGroup, remove: s.deleteGroup}
	scim("/scim/v2/Users", users.collection)
	scim("/scim/v2/Users/{$}", users.collection) // /Users/?filter=... (Microsoft's reference server takes it)
	scim("/scim/v2/Users/{id}", users.item)
	scim("/scim/v2/Groups", groups.collection)
	scim("/scim/v2/Groups/{$}", groups.collection)
	scim("/scim/v2/Groups/{id}", groups.item)
	scim("/scim/v2/.search", s.rootSearch)
	scim("/scim/v2/ServiceProviderConfig", s.serviceProviderConfig)
	scim("/scim/v2/ResourceTypes", s.resourceTypes)
	scim("/scim/v2/ResourceTypes/{name}", s.resourceType)
	scim("/scim/v2/Schemas", s.schemas)
	scim("/scim/v2/Schemas/{urn}", s.schemaByURN)
	scim("/scim/v2/", func(w http.ResponseWriter, r *http.Request, c *call) {
		writeError(w, notFound("no such SCIM endpoint: %s", r.URL.Path))
	})
	mux.HandleFunc("/scim/v2", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, notFound("this is the SCIM base URL: resources are under it, e.g. %s/Users", s.SCIMURL()))
	})
	mux.Handle("/setup/v1/", s.setupAPI())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, notFound("not found: the SCIM base URL is %s", s.SCIMURL()))
	})
	// The probes stay outside the request log: a monitor polls them every few seconds,
	// and a not-ready answer is the monitor's business, not a failed request to log.
	top := http.NewServeMux()
	top.HandleFunc("/healthz", health(nil))
	top.HandleFunc("/readyz", health(s.cfg.Ready))
	top.Handle("/", s.logged(s.recoverer(headAsGet(mux))))
	return top
}

// health answers a probe: 200 "ok", or 503 with the reason ready gives. Tiny bodies, no
// authentication, and no SCIM switch: a monitor must see the server whether or not the
// admin has provisioning on.
func health(ready func(ctx context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		if ready != nil {
			if err := ready(r.Context()); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, "not ready: "+err.Error()+"\n")
				return
			}
		}
		io.WriteString(w, "ok\n")
	}
}

// headAsGet answers HEAD like GET: same status and headers (ETag, Content-Type), no body.
// The handlers see a copy of the request with the method GET; the caller's request keeps
// HEAD, which is also what tells net/http not to send the body.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		get := r.WithContext(r.Context()) // a shallow copy
		get.Method = http.MethodGet
		next.ServeHTTP(headWriter{w}, get)
	})
}

// headWriter drops the body of a HEAD response (net/http would, too, but only when the
// request it serves says HEAD, and this keeps the work of writing it away).
type headWriter struct{ http.ResponseWriter }

func (h headWriter) Write(b []byte) (int, error) { return len(b), nil }

// recoverer turns a panic into a SCIM 500 and a log line, never a dropped connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "method", truncate(r.Method, logMethodBytes), "path", truncate(r.URL.Path, logValueBytes), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeError(w, errInternal)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// call is what a handler knows about the request besides the request itself.
type call struct {
	tokenID string
	addr    string
	agent   string
}

// event fills the request's side of an audit event.
func (c *call) event(kind, subject string, status int, summary string) db.Event {
	outcome := db.OutcomeOK
	if status >= 400 {
		outcome = db.OutcomeFail
	}
	return db.Event{Kind: kind, TokenID: c.tokenID, Addr: c.addr, Agent: c.agent, Subject: subject,
		Outcome: outcome, Status: status, Summary: summary}
}

// clientAddr is the client's address. Behind a reverse proxy on the same machine (the
// setup the README describes) every request comes from loopback, so there, and only there,
// the proxy's X-Forwarded-For is believed: its last entry is the address the proxy saw.
// A remote client cannot forge it, since its own requests do not come from loopback.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if last := strings.TrimSpace(parts[len(parts)-1]); net.ParseIP(last) != nil {
				return last
			}
		}
	}
	return host
}

// truncate keeps client-supplied strings that go into the audit log short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 { // don't split a UTF-8 sequence
		n--
	}
	return s[:n] + "…"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, errInternal)
		return
	}
	writeRaw(w, status, body)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

// retryAfterSeconds is the Retry-After of a 503: the database was busy or unreachable, or a
// write too large; a few seconds is enough for the first two.
const retryAfterSeconds = "5"

func writeError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scimdesk"`)
	}
	if e.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// Okta and Entra retry a 503; saying when spares the server a stampede.
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	writeJSON(w, e.Status, e.body())
}

// readBody reads a JSON request body within the size limit.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes)}
		}
		return nil, bodyReadError(err)
	}
	if !utf8.Valid(body) {
		// Stored as it came, invalid bytes would turn into U+FFFD and make distinct names
		// collide; refusing them is the honest answer.
		return nil, badRequest(errInvalidSyntax, "the request body is not valid UTF-8")
	}
	return body, nil
}

// bodyReadError answers a body that could not be read: the connection failed or the body
// stopped arriving. The request was never received whole, so it is answered (if anyone
// still listens) but not audited, which would cost a write for each.
func bodyReadError(err error) *Error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Status: http.StatusRequestTimeout, Detail: fmt.Sprintf("the request body did not arrive within %s", bodyTimeout), unheard: true}
	}
	return &Error{Status: http.StatusBadRequest, ScimType: errInvalidSyntax, Detail: "could not read the request body", unheard: true}
}

// decodeObject parses a body that must be one JSON object.
func decodeObject(body []byte) (map[string]any, *Error) {
	if name := duplicateName(body); name != "" {
		return nil, badRequest(errInvalidSyntax, "the attribute %q appears twice in one object", truncate(name, 64))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, badRequest(errInvalidSyntax, "the body is not a JSON object: %s", jsonProblem(err))
	}
	if m == nil {
		return nil, badRequest(errInvalidSyntax, "the body is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest(errInvalidSyntax, "the body has data after the JSON object")
	}
	return m, nil
}

// jsonProblem describes a JSON error without Go type names.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("wrong type for %q", te.Field)
		}
		return "wrong JSON type"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return "malformed JSON"
}

// storeErr maps database errors to SCIM errors at the edge.
func storeErr(err error) *Error {
	if err == nil {
		return nil
	}
	var unknown *db.UnknownUsersError
	switch {
	case errors.As(err, &unknown):
		ids := quoteAll(unknown.IDs[:min(len(unknown.IDs), 5)])
		if more := len(unknown.IDs) - len(ids); more > 0 {
			ids = append(ids, fmt.Sprintf("and %d more", more))
		}
		return badRequest(errInvalidValue, "no user with id %s", strings.Join(ids, ", "))
	case errors.Is(err, db.ErrNotFound):
		return notFound("resource not found")
	case errors.Is(err, db.ErrConflict):
		return conflict("a resource with that unique attribute already exists")
	case errors.Is(err, db.ErrReadBudget):
		return badRequest(errTooMany, "the query took longer than the server allows (%s): use a more selective filter, such as userName eq or sw", db.DefaultReadBudget)
	case errors.Is(err, db.ErrWriteBudget):
		return &Error{Status: http.StatusServiceUnavailable, Detail: fmt.Sprintf("the request needed more than %s of database time and was rolled back; send smaller requests", db.DefaultWriteBudget)}
	case errors.Is(err, db.ErrBusy):
		return &Error{Status: http.StatusServiceUnavailable, Detail: "the database is busy; try again"}
	case errors.Is(err, db.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Detail: "the database cannot be reached right now; try again"}
	}
	return errInternal
}

func quoteAll(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf("%q", truncate(id, 64))
	}
	return out
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, &Error{Status: http.StatusMethodNotAllowed, Detail: "method not allowed; allowed: " + allow})
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func itoa(n int) string { return fmt.Sprint(n) }

// endpoints are one resource type's handlers; collection and item route to them the same
// way for Users and Groups.
type endpoints struct {
	list    func(http.ResponseWriter, *http.Request, listQuery)
	create  func(http.ResponseWriter, *http.Request, *call)
	get     func(http.ResponseWriter, *http.Request, string)
	replace func(http.ResponseWriter, *http.Request, *call, string)
	patch   func(http.ResponseWriter, *http.Request, *call, string)
	remove  func(http.ResponseWriter, *http.Request, *call, string)
}

// collection serves /Users and /Groups: list (GET) and create (POST).
func (e endpoints) collection(w http.ResponseWriter, r *http.Request, c *call) {
	switch r.Method {
	case http.MethodGet:
		q, err := listQueryFromURL(r)
		if err != nil {
			writeError(w, err)
			return
		}
		e.list(w, r, q)
	case http.MethodPost:
		e.create(w, r, c)
	default:
		methodNotAllowed(w, "GET, POST")
	}
}

// item serves /Users/{id} and /Groups/{id}, and .search (RFC 7644 §3.4.3) under them.
func (e endpoints) item(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("id")
	if id == ".search" {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		q, err := listQueryFromBody(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		e.list(w, r, q)
		return
	}
	switch r.Method {
	case http.MethodGet:
		e.get(w, r, id)
	case http.MethodPut:
		e.replace(w, r, c, id)
	case http.MethodPatch:
		e.patch(w, r, c, id)
	case http.MethodDelete:
		e.remove(w, r, c, id)
	default:
		methodNotAllowed(w, "GET, PUT, PATCH, DELETE")
	}
}
