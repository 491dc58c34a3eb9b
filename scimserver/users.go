package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"scimdesk/db"
)

// userFromDoc fills a user's columns from its doc and checks what the schema requires.
func userFromDoc(d doc, u *db.User) *Error {
	name, _ := d["userName"].(string)
	if strings.TrimSpace(name) == "" {
		return badRequest(errInvalidValue, "userName is required")
	}
	u.UserName = name
	u.ExternalID, _ = d[attrExternalID].(string)
	u.DisplayName, _ = d["displayName"].(string)
	nm, _ := d["name"].(map[string]any)
	u.GivenName, _ = nm["givenName"].(string)
	u.FamilyName, _ = nm["familyName"].(string)
	if _, ok := d["active"]; !ok {
		d["active"] = true // RFC 7643 leaves the default to the server; a new user is active
	}
	u.Active, _ = d["active"].(bool)
	u.Email = primaryValue(d["emails"])
	var err error
	if u.Doc, err = json.Marshal(d); err != nil {
		return errInternal
	}
	if len(u.Doc) > maxDocBytes {
		return badRequest(errInvalidValue, "the user's attributes would take more than %d bytes", maxDocBytes)
	}
	return nil
}

// primaryValue is the value of the primary element of a multi-valued attribute, else the
// first one's.
func primaryValue(v any) string {
	list, _ := v.([]any)
	first := ""
	for _, e := range list {
		obj, _ := e.(map[string]any)
		s, _ := obj["value"].(string)
		if p, _ := obj["primary"].(bool); p {
			return s
		}
		if first == "" {
			first = s
		}
	}
	return first
}

func (s *Server) base(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/") + "/scim/v2"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/scim/v2"
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, id string) {
	proj, perr := requestProjection(r)
	if perr != nil {
		writeError(w, perr)
		return
	}
	u, err := s.db.UserByID(r.Context(), id)
	if err != nil {
		writeError(w, userErr(err, id))
		return
	}
	if notModified(r, u.Version) {
		w.Header().Set("ETag", etag(u.Version))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeUser(w, r, http.StatusOK, &u, proj)
}

func (s *Server) writeUser(w http.ResponseWriter, r *http.Request, status int, u *db.User, p projection) {
	if u.Groups == nil && status == http.StatusOK && r.Method != http.MethodGet {
		// Read in the write transaction without its groups; read them now, off the writer.
		one := []db.User{*u}
		if err := s.db.FillGroups(r.Context(), one); err != nil {
			writeError(w, storeErr(err))
			return
		}
		u = &one[0]
	}
	var buf bytes.Buffer
	base := s.base(r)
	renderUser(&buf, base, u)
	w.Header().Set("ETag", etag(u.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", base+"/Users/"+u.ID)
	}
	writeRaw(w, status, p.apply(userNormalizer, buf.Bytes()))
}

// requestProjection parses the attributes and excludedAttributes of a request that
// answers with one resource. Mutations call it before the write, so that a bad one is
// refused before anything changes.
func requestProjection(r *http.Request) (projection, *Error) {
	q := r.URL.Query()
	return parseProjection(q.Get("attributes"), q.Get("excludedAttributes"))
}

func userErr(err error, id string) *Error {
	if errors.Is(err, db.ErrNotFound) {
		return notFound("no user with id %q", truncate(id, 64))
	}
	if errors.Is(err, db.ErrConflict) {
		return conflict("a user with that userName already exists")
	}
	return storeErr(err)
}

// mutation runs one audited change: fn's work and its success event commit together;
// a failure is recorded on its own. It returns the SCIM error to answer, if any.
//
// pre, if not nil, runs first, outside the transaction: reading and decoding the body
// there keeps that work off the single writer, which runs every fn in turn.
func (s *Server) mutation(r *http.Request, c *call, kind string, subject *string, summary *string, pre func() *Error, fn func(tx *db.Tx) *Error) *Error {
	if pre != nil {
		if scimErr := pre(); scimErr != nil {
			if !scimErr.unheard {
				s.record(r.Context(), c.event(kind, *subject, scimErr.Status, truncate(scimErr.Detail, 300)))
			}
			return scimErr
		}
	}
	var scimErr *Error
	subject0, summary0 := *subject, *summary
	err := s.db.Write(r.Context(), func(tx *db.Tx) error {
		// A write may be run again after a rollback (see db.Write): each run starts from
		// what the first one started from.
		*subject, *summary = subject0, summary0
		if scimErr = fn(tx); scimErr != nil {
			return scimErr
		}
		return tx.InsertEvent(r.Context(), c.event(kind, *subject, successStatus(kind), *summary))
	})
	if errors.Is(err, db.ErrWriteBudget) {
		scimErr = nil // what fn made of its failing statements: the budget is the cause
	}
	if err != nil && scimErr == nil && r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client hung up before its write was admitted, so the write never ran. This
		// is no server error, and an audit event for it would cost a write of its own:
		// a client that sends complete requests and resets its connections at once
		// (hundreds a second, never waiting for an answer) would then queue that many
		// writes, and hold that many connection slots while they wait, however quickly
		// its connections die. The throttled "request failed" log line still shows it.
		return errClientGone
	}
	if err != nil && scimErr == nil {
		if !errors.Is(err, db.ErrConflict) && !errors.Is(err, db.ErrNotFound) {
			s.logErr(r.Context(), "write", err, "kind", kind)
		}
		scimErr = storeErr(err)
	}
	if scimErr != nil {
		s.record(r.Context(), c.event(kind, *subject, scimErr.Status, truncate(scimErr.Detail, 300)))
		return scimErr
	}
	s.published()
	return nil
}

// successStatus is the status a successful mutation of this kind answers, for the audit log.
func successStatus(kind string) int {
	switch {
	case strings.HasSuffix(kind, ".create"):
		return http.StatusCreated
	case strings.HasSuffix(kind, ".delete"):
		return http.StatusNoContent
	}
	return http.StatusOK
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c *call) {
	subject, summary := "", ""
	queued := false
	var u db.User
	var proj projection
	pre := func() *Error {
		var perr *Error
		if proj, perr = requestProjection(r); perr != nil {
			return perr
		}
		in, err := readObject(w, r)
		if err != nil {
			return err
		}
		subject = subjectOf(in, "userName")
		d, err := userNormalizer.normalize(in)
		if err != nil {
			return err
		}
		u.ID = uuid.NewString()
		return userFromDoc(d, &u)
	}
	err := s.mutation(r, c, "user.create", &subject, &summary, pre, func(tx *db.Tx) *Error {
		if e := tx.InsertUser(r.Context(), &u); e != nil {
			return userErr(e, u.ID)
		}
		var e error
		if queued, e = s.queueInvite(r.Context(), tx, u, db.InviteProvisioned); e != nil {
			return storeErr(e)
		}
		summary = "created user " + truncate(u.UserName, 100) + inviteNote(queued)
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.invited(queued)
	s.writeUser(w, r, http.StatusCreated, &u, proj)
}

// subjectOf names the resource of a request in the audit log, even one that fails.
func subjectOf(in map[string]any, attr string) string {
	for k, v := range in {
		if strings.EqualFold(k, attr) {
			if s, ok := v.(string); ok {
				return truncate(s, 100)
			}
		}
	}
	return ""
}

func readObject(w http.ResponseWriter, r *http.Request) (map[string]any, *Error) {
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	return decodeObject(body)
}

// checkIfMatch enforces If-Match (RFC 7644 §3.14): a stale version is refused with 412.
func checkIfMatch(r *http.Request, version int64) *Error {
	im := strings.TrimSpace(r.Header.Get("If-Match"))
	if im == "" || im == "*" {
		return nil
	}
	for _, t := range strings.Split(im, ",") {
		t = strings.TrimSpace(t)
		if strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag(version), "W/") {
			return nil
		}
	}
	return &Error{Status: http.StatusPreconditionFailed, Detail: fmt.Sprintf("the resource has changed: its version is now %s", etag(version))}
}

func notModified(r *http.Request, version int64) bool {
	inm := strings.TrimSpace(r.Header.Get("If-None-Match"))
	if inm == "" {
		return false
	}
	for _, t := range strings.Split(inm, ",") {
		if t = strings.TrimSpace(t); t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag(version), "W/") {
			return true
		}
	}
	return false
}

func (s *Server) replaceUser(w http.ResponseWriter, r *http.Request, c *call, id string) {
	subject, summary := id, ""
	queued := false
	var u, next db.User
	var proj projection
	pre := func() *Error {
		var perr *Error
		if proj, perr = requestProjection(r); perr != nil {
			return perr
		}
		in, err := readObject(w, r)
		if err != nil {
			return err
		}
		if bodyID, ok := in["id"].(string); ok && bodyID != id {
			return badRequest(errMutability, "id cannot be changed")
		}
		d, err := userNormalizer.normalize(in)
		if err != nil {
			return err
		}
		return userFromDoc(d, &next)
	}
	err := s.mutation(r, c, "user.replace", &subject, &summary, pre, func(tx *db.Tx) *Error {
		queued = false // a run again after a rollback starts afresh
		var e error
		if u, e = tx.UserByID(r.Context(), id); e != nil {
			return userErr(e, id)
		}
		subject = u.UserName
		if err := checkIfMatch(r, u.Version); err != nil {
			return err
		}
		wasActive := u.Active
		u.UserName, u.ExternalID, u.DisplayName, u.GivenName, u.FamilyName = next.UserName, next.ExternalID, next.DisplayName, next.GivenName, next.FamilyName
		u.Email, u.Active, u.Doc = next.Email, next.Active, next.Doc
		if e := tx.UpdateUser(r.Context(), &u); e != nil {
			return userErr(e, id)
		}
		summary = "replaced user " + truncate(u.UserName, 100) + activeChange(wasActive, u.Active)
		if !wasActive && u.Active {
			var e error
			if queued, e = s.queueInvite(r.Context(), tx, u, db.InviteReactivated); e != nil {
				return storeErr(e)
			}
			summary += inviteNote(queued)
		}
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.invited(queued)
	s.writeUser(w, r, http.StatusOK, &u, proj)
}

func activeChange(was, is bool) string {
	switch {
	case was && !is:
		return " (deactivated)"
	case !was && is:
		return " (reactivated)"
	}
	return ""
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, c *call, id string) {
	subject, summary := id, ""
	queued := false
	var u db.User
	var steps []step
	var proj projection
	pre := func() *Error {
		var perr *Error
		if proj, perr = requestProjection(r); perr != nil {
			return perr
		}
		body, err := readBody(w, r)
		if err != nil {
			return err
		}
		req, err := decodePatch(body)
		if err != nil {
			return err
		}
		steps, err = compilePatch(userNormalizer, false, id, req.Operations)
		return err
	}
	err := s.mutation(r, c, "user.patch", &subject, &summary, pre, func(tx *db.Tx) *Error {
		queued = false // a run again after a rollback starts afresh
		var e error
		if u, e = tx.UserByID(r.Context(), id); e != nil {
			return userErr(e, id)
		}
		subject = u.UserName
		if err := checkIfMatch(r, u.Version); err != nil {
			return err
		}
		var d doc
		if e := json.Unmarshal(u.Doc, &d); e != nil {
			s.log.ErrorContext(r.Context(), "stored user doc is not JSON", "id", id, "err", e)
			return errInternal
		}
		if d == nil {
			d = doc{}
		}
		p := &patcher{d: d}
		for i := range steps {
			if tx.OverBudget() {
				return errOverBudget
			}
			if err := p.apply(&steps[i]); err != nil {
				return err
			}
		}
		wasActive, oldDoc := u.Active, u.Doc
		if err := userFromDoc(p.d, &u); err != nil {
			return err
		}
		if bytes.Equal(oldDoc, u.Doc) {
			// Nothing changed (an attribute we do not keep, a value it already had): the
			// version stays, so clients holding the ETag get no spurious 412.
			summary = "patched user " + truncate(u.UserName, 100) + " (no change)"
			return nil
		}
		if e := tx.UpdateUser(r.Context(), &u); e != nil {
			return userErr(e, id)
		}
		summary = "patched user " + truncate(u.UserName, 100) + activeChange(wasActive, u.Active)
		if wasActive != u.Active {
			summary = map[bool]string{false: "deactivated user ", true: "reactivated user "}[u.Active] + truncate(u.UserName, 100)
		}
		if !wasActive && u.Active {
			var e error
			if queued, e = s.queueInvite(r.Context(), tx, u, db.InviteReactivated); e != nil {
				return storeErr(e)
			}
			summary += inviteNote(queued)
		}
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.invited(queued)
	s.writeUser(w, r, http.StatusOK, &u, proj)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, c *call, id string) {
	subject, summary := id, ""
	err := s.mutation(r, c, "user.delete", &subject, &summary, nil, func(tx *db.Tx) *Error {
		u, e := tx.UserByID(r.Context(), id)
		if e != nil {
			return userErr(e, id)
		}
		subject = u.UserName
		if err := checkIfMatch(r, u.Version); err != nil {
			return err
		}
		if e := tx.DeleteUser(r.Context(), id); e != nil {
			return userErr(e, id)
		}
		summary = "deleted user " + truncate(u.UserName, 100)
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
