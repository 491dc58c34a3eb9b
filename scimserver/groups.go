package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"scimdesk/db"
)

// groupFromDoc takes displayName (a column) out of the doc and checks it.
func groupFromDoc(d doc, g *db.Group) *Error {
	name, _ := d["displayName"].(string)
	if strings.TrimSpace(name) == "" {
		return badRequest(errInvalidValue, "displayName is required")
	}
	g.DisplayName = name
	g.ExternalID, _ = d[attrExternalID].(string)
	rest := make(doc, len(d))
	for k, v := range d {
		if k != "displayName" && k != "members" {
			rest[k] = v
		}
	}
	var err error
	if g.Doc, err = json.Marshal(rest); err != nil {
		return errInternal
	}
	if len(g.Doc) > maxDocBytes {
		return badRequest(errInvalidValue, "the group's attributes would take more than %d bytes", maxDocBytes)
	}
	return nil
}

// groupDoc is the doc a PATCH works on: the stored one plus displayName.
func groupDoc(g *db.Group) (doc, error) {
	var d doc
	if err := json.Unmarshal(g.Doc, &d); err != nil {
		return nil, err
	}
	if d == nil {
		d = doc{}
	}
	d["displayName"] = g.DisplayName
	return d, nil
}

func groupErr(err error, id string) *Error {
	if errors.Is(err, db.ErrNotFound) {
		return notFound("no group with id %q", truncate(id, 64))
	}
	if errors.Is(err, db.ErrConflict) {
		return conflict("a group with that displayName already exists")
	}
	return storeErr(err)
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, id string) {
	proj, perr := requestProjection(r)
	if perr != nil {
		writeError(w, perr)
		return
	}
	g, err := s.db.GroupByID(r.Context(), id)
	if err != nil {
		writeError(w, groupErr(err, id))
		return
	}
	if notModified(r, g.Version) {
		w.Header().Set("ETag", etag(g.Version))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeGroup(w, r, http.StatusOK, &g, s.db, proj)
}

// memberReader is what can read members: the reader pool or a write transaction.
type memberReader interface {
	MembersOfGroups(ctx context.Context, seqs []int64) (map[int64][]db.Member, error)
}

func (s *Server) writeGroup(w http.ResponseWriter, r *http.Request, status int, g *db.Group, mr memberReader, p projection) {
	withMembers := !p.excludes("members")
	var members []db.Member
	if withMembers {
		m, err := mr.MembersOfGroups(r.Context(), []int64{g.Seq})
		if err != nil {
			writeError(w, storeErr(err))
			return
		}
		members = m[g.Seq]
	}
	var buf bytes.Buffer
	base := s.base(r)
	renderGroup(&buf, base, g, members, withMembers)
	w.Header().Set("ETag", etag(g.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", base+"/Groups/"+g.ID)
	}
	writeRaw(w, status, p.apply(groupNormalizer, buf.Bytes()))
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, c *call) {
	subject, summary := "", ""
	var g db.Group
	var ids []string
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
		subject = subjectOf(in, "displayName")
		d, err := groupNormalizer.normalize(in)
		if err != nil {
			return err
		}
		if err := groupFromDoc(d, &g); err != nil {
			return err
		}
		ids, err = memberIDs(d["members"])
		g.ID = uuid.NewString()
		return err
	}
	err := s.mutation(r, c, "group.create", &subject, &summary, pre, func(tx *db.Tx) *Error {
		if e := tx.InsertGroup(r.Context(), &g); e != nil {
			return groupErr(e, g.ID)
		}
		if e := tx.AddMembers(r.Context(), g.Seq, ids); e != nil {
			return storeErr(e)
		}
		summary = "created group " + truncate(g.DisplayName, 100) + memberCount(len(ids))
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeGroup(w, r, http.StatusCreated, &g, s.db, proj)
}

func memberCount(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return " with 1 member"
	}
	return " with " + itoa(n) + " members"
}

func (s *Server) replaceGroup(w http.ResponseWriter, r *http.Request, c *call, id string) {
	subject, summary := id, ""
	var g, next db.Group
	var ids []string
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
		d, err := groupNormalizer.normalize(in)
		if err != nil {
			return err
		}
		if err := groupFromDoc(d, &next); err != nil {
			return err
		}
		ids, err = memberIDs(d["members"])
		return err
	}
	err := s.mutation(r, c, "group.replace", &subject, &summary, pre, func(tx *db.Tx) *Error {
		var e error
		if g, e = tx.GroupByID(r.Context(), id); e != nil {
			return groupErr(e, id)
		}
		subject = g.DisplayName
		if err := checkIfMatch(r, g.Version); err != nil {
			return err
		}
		g.DisplayName, g.ExternalID, g.Doc = next.DisplayName, next.ExternalID, next.Doc
		if e := tx.UpdateGroup(r.Context(), &g); e != nil {
			return groupErr(e, id)
		}
		if e := tx.ClearMembers(r.Context(), g.Seq); e != nil {
			return storeErr(e)
		}
		if e := tx.AddMembers(r.Context(), g.Seq, ids); e != nil {
			return storeErr(e)
		}
		summary = "replaced group " + truncate(g.DisplayName, 100) + memberCount(len(ids))
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeGroup(w, r, http.StatusOK, &g, s.db, proj)
}

func (s *Server) patchGroup(w http.ResponseWriter, r *http.Request, c *call, id string) {
	subject, summary := id, ""
	var g db.Group
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
		steps, err = compilePatch(groupNormalizer, true, id, req.Operations)
		return err
	}
	err := s.mutation(r, c, "group.patch", &subject, &summary, pre, func(tx *db.Tx) *Error {
		var e error
		if g, e = tx.GroupByID(r.Context(), id); e != nil {
			return groupErr(e, id)
		}
		subject = g.DisplayName
		if err := checkIfMatch(r, g.Version); err != nil {
			return err
		}
		d, e := groupDoc(&g)
		if e != nil {
			s.log.ErrorContext(r.Context(), "stored group doc is not JSON", "id", id, "err", e)
			return errInternal
		}
		mp, e := newMemberPatch(r.Context(), tx, g.Seq, steps)
		if e != nil {
			return storeErr(e)
		}
		p := &patcher{d: d, mp: mp}
		for i := range steps {
			if tx.OverBudget() {
				return errOverBudget
			}
			if err := p.apply(&steps[i]); err != nil {
				return err
			}
		}
		if err := mp.finish(); err != nil {
			return err
		}
		oldName, oldDoc := g.DisplayName, g.Doc
		if err := groupFromDoc(p.d, &g); err != nil {
			return err
		}
		if oldName == g.DisplayName && bytes.Equal(oldDoc, g.Doc) && !mp.changed {
			summary = "patched group " + truncate(g.DisplayName, 100) + " (no change)"
			return nil // the version stays: nothing changed
		}
		if e := tx.UpdateGroup(r.Context(), &g); e != nil {
			return groupErr(e, id)
		}
		summary = "patched group " + truncate(g.DisplayName, 100)
		if oldName != g.DisplayName {
			summary = "renamed group " + truncate(oldName, 100) + " to " + truncate(g.DisplayName, 100)
		} else if mp.changed {
			summary = "changed members of group " + truncate(g.DisplayName, 100)
		}
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeGroup(w, r, http.StatusOK, &g, s.db, proj)
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, c *call, id string) {
	subject, summary := id, ""
	// A big group loses its members in chunks first, each within the write budget; a
	// stale If-Match must still leave the group as it was.
	pre := func() *Error {
		g, e := s.db.GroupByID(r.Context(), id)
		if e != nil {
			return groupErr(e, id)
		}
		if err := checkIfMatch(r, g.Version); err != nil {
			return err
		}
		return storeErr(s.db.ShrinkGroupForDelete(r.Context(), id))
	}
	err := s.mutation(r, c, "group.delete", &subject, &summary, pre, func(tx *db.Tx) *Error {
		g, e := tx.GroupByID(r.Context(), id)
		if e != nil {
			return groupErr(e, id)
		}
		subject = g.DisplayName
		if err := checkIfMatch(r, g.Version); err != nil {
			return err
		}
		if e := tx.DeleteGroup(r.Context(), id); e != nil {
			return groupErr(e, id)
		}
		summary = "deleted group " + truncate(g.DisplayName, 100)
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
