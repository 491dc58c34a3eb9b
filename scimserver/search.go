package scimserver

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"scimdesk/db"
	"scimdesk/scimserver/filtersql"
)

// rootSearch serves POST /.search (RFC 7644 §3.4.3): a query across resource types.
// Users come first, then groups, each in creation order; startIndex and count page over
// that union, and totalResults counts both. Each resource carries its own schemas.
//
// The filter applies to each resource type with the attributes of the other type's
// schema as unassigned there: RFC 7644 §3.4.2.2 has a comparison on an attribute with no
// value be false (and "pr" false, "not" of it true), so userName eq "x" finds no group
// and displayName sw "A" finds users and groups. A name that neither type has is still
// 400 invalidFilter: a typo must not match everything.
func (s *Server) rootSearch(w http.ResponseWriter, r *http.Request, c *call) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	q, err := listQueryFromBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	userWhere, err := translate(q.filter, rootUserFilterSchema)
	if err != nil {
		writeError(w, err)
		return
	}
	groupWhere, err := translate(q.filter, rootGroupFilterSchema)
	if err != nil {
		writeError(w, err)
		return
	}
	up, err := q.page(URNUser, rootSortColumns(userSortColumns))
	if err != nil {
		writeError(w, err)
		return
	}
	gp, err := q.page(URNGroup, rootSortColumns(groupSortColumns))
	if err != nil {
		writeError(w, err)
		return
	}
	users, nUsers, e := s.db.ListUsers(r.Context(), userWhere, up)
	if e != nil {
		s.log.Error("root search users", "err", e)
		writeError(w, storeErr(e))
		return
	}
	// The groups' part of the page starts where the users end.
	gp.Offset = max(0, up.Offset-nUsers)
	gp.Limit = up.Limit - len(users)
	groups, nGroups, e := s.db.ListGroups(r.Context(), groupWhere, gp)
	if e != nil {
		s.log.Error("root search groups", "err", e)
		writeError(w, storeErr(e))
		return
	}
	withMembers := !q.proj.excludes("members")
	var members map[int64][]db.Member
	if withMembers && len(groups) > 0 {
		seqs := make([]int64, len(groups))
		for i, g := range groups {
			seqs[i] = g.Seq
		}
		if members, e = s.db.MembersOfGroups(r.Context(), seqs); e != nil {
			writeError(w, storeErr(e))
			return
		}
	}
	base := s.base(r)
	var buf, one bytes.Buffer
	buf.WriteString(`{"schemas":["` + URNListResponse + `"],"totalResults":`)
	buf.WriteString(strconv.Itoa(nUsers + nGroups))
	buf.WriteString(`,"startIndex":`)
	buf.WriteString(strconv.Itoa(q.startIndex))
	buf.WriteString(`,"itemsPerPage":`)
	buf.WriteString(strconv.Itoa(len(users) + len(groups)))
	buf.WriteString(`,"Resources":[`)
	n := 0
	add := func(norm normalizer, render func(*bytes.Buffer)) {
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		one.Reset()
		render(&one)
		buf.Write(q.proj.apply(norm, one.Bytes()))
	}
	for i := range users {
		add(userNormalizer, func(b *bytes.Buffer) { renderUser(b, base, &users[i]) })
	}
	for i := range groups {
		add(groupNormalizer, func(b *bytes.Buffer) { renderGroup(b, base, &groups[i], members[groups[i].Seq], withMembers) })
	}
	buf.WriteString(`]}`)
	writeRaw(w, http.StatusOK, buf.Bytes())
}

// rootSortColumns keeps the sort keys both resource types have, so that a root query is
// sorted the same way in each part (and refused, not half-sorted, otherwise).
func rootSortColumns(cols map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range cols {
		_, inUsers := userSortColumns[k]
		_, inGroups := groupSortColumns[k]
		if inUsers && inGroups {
			out[k] = v
		}
	}
	return out
}

// rootUserFilterSchema and rootGroupFilterSchema are the filter schemas of a root
// query: each type's own, plus the other type's attributes as always unassigned.
var (
	rootUserFilterSchema  = withUnassigned(userFilterSchema, groupFilterSchema)
	rootGroupFilterSchema = withUnassigned(groupFilterSchema, userFilterSchema)
)

// withUnassigned copies own and adds every attribute of other that own lacks, as NULL
// (a single value) or as no element at all (a multi-valued one).
func withUnassigned(own, other *filtersql.Schema) *filtersql.Schema {
	s := &filtersql.Schema{URN: own.URN, Attrs: map[string]filtersql.Column{}, Multis: map[string]filtersql.Multi{}}
	for k, c := range own.Attrs {
		s.Attrs[k] = c
	}
	for k, m := range own.Multis {
		s.Multis[k] = m
	}
	otherURN := strings.ToLower(other.URN) + ":"
	for k, c := range other.Attrs {
		none := filtersql.Column{Expr: "NULL", Kind: c.Kind, CaseExact: c.CaseExact, MillisTime: c.MillisTime}
		// Qualified with the other type's URN, even a name both types have is the
		// other type's attribute.
		s.Attrs[otherURN+k] = none
		if _, ok := s.Attrs[k]; !ok {
			s.Attrs[k] = none
		}
	}
	for k, m := range other.Multis {
		none := filtersql.Multi{From: "(SELECT NULL AS value WHERE 0) unassigned", Default: m.Default, Sub: map[string]filtersql.Column{}}
		for sk, c := range m.Sub {
			none.Sub[sk] = filtersql.Column{Expr: "NULL", Kind: c.Kind, CaseExact: c.CaseExact}
		}
		s.Multis[otherURN+k] = none
		if _, ok := s.Multis[k]; !ok {
			s.Multis[k] = none
		}
	}
	return s
}
