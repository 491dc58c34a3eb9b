package scimserver

import (
	"bytes"
	"net/http"
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
	userWhere, err := translate(q.filter, s.filters().rootUser)
	if err != nil {
		writeError(w, err)
		return
	}
	groupWhere, err := translate(q.filter, s.filters().rootGroup)
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
	// The groups' count comes first, so that totalResults heads the list; then users and
	// groups are streamed as the per-type lists are, a chunk at a time.
	var nGroups int
	if e := s.db.EachGroup(r.Context(), groupWhere, db.Page{}, false, func(n int) error { nGroups = n; return nil }, nil); e != nil {
		writeError(w, storeErr(e))
		return
	}
	base := s.base(r)
	lw := newListWriter(w, q.proj, userNormalizer)
	var nUsers int
	e := s.db.EachUser(r.Context(), userWhere, up, func(n int) error {
		nUsers = n
		return lw.start(nUsers+nGroups, q.startIndex)
	}, func(u *db.User) error {
		return lw.add(func(b *bytes.Buffer) { renderUser(b, base, u) })
	})
	gp.Offset = max(0, up.Offset-nUsers)
	gp.Limit = up.Limit - lw.n
	if e == nil && gp.Limit > 0 {
		withMembers := !q.proj.excludes("members")
		lw.norm = groupNormalizer
		e = s.db.EachGroup(r.Context(), groupWhere, gp, withMembers, func(int) error { return nil }, func(g *db.Group, members []db.Member) error {
			return lw.add(func(b *bytes.Buffer) { renderGroup(b, base, g, members, withMembers) })
		})
	}
	lw.finish(r.Context(), s, "root search", e)
}

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

// withUnassigned copies own and adds every attribute of other that own lacks, as NULL
// (a single value) or as no element at all (a multi-valued one).
func withUnassigned(own, other *filtersql.Schema, pg bool) *filtersql.Schema {
	s := &filtersql.Schema{URN: own.URN, Postgres: pg, Attrs: map[string]filtersql.Column{}, Multis: map[string]filtersql.Multi{}}
	for k, c := range own.Attrs {
		s.Attrs[k] = c
	}
	for k, m := range own.Multis {
		s.Multis[k] = m
	}
	otherURN := strings.ToLower(other.URN) + ":"
	for k, c := range other.Attrs {
		none := filtersql.Column{Expr: typedNull(c), Kind: c.Kind, CaseExact: c.CaseExact, MillisTime: c.MillisTime}
		// Qualified with the other type's URN, even a name both types have is the
		// other type's attribute.
		s.Attrs[otherURN+k] = none
		if _, ok := s.Attrs[k]; !ok {
			s.Attrs[k] = none
		}
	}
	for k, m := range other.Multis {
		none := filtersql.Multi{From: "(SELECT NULL AS value WHERE 1 = 0) unassigned", Default: m.Default, Sub: map[string]filtersql.Column{}}
		for sk, c := range m.Sub {
			none.Sub[sk] = filtersql.Column{Expr: typedNull(c), Kind: c.Kind, CaseExact: c.CaseExact}
		}
		s.Multis[otherURN+k] = none
		if _, ok := s.Multis[k]; !ok {
			s.Multis[k] = none
		}
	}
	return s
}

// typedNull is the value of an attribute a resource type does not have: NULL, of the type
// the filter compares it with (PostgreSQL types every expression; SQLite takes the cast
// as a no-op on NULL).
func typedNull(c filtersql.Column) string {
	switch c.Kind {
	case filtersql.Boolean, filtersql.Integer:
		return "CAST(NULL AS BIGINT)"
	case filtersql.Decimal:
		return "CAST(NULL AS DOUBLE PRECISION)"
	case filtersql.DateTime:
		if c.MillisTime {
			return "CAST(NULL AS BIGINT)"
		}
	}
	return "CAST(NULL AS TEXT)"
}
