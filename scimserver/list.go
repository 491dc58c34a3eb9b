package scimserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"scimdesk/db"
	"scimdesk/scimserver/filtersql"
)

// uniqueLookup matches the lookups identity providers make before every create and
// update: an eq on an attribute that names one user.
var uniqueLookup = regexp.MustCompile(`(?i)^\s*(urn:ietf:params:scim:schemas:core:2\.0:user:)?(username|externalid|id)\s+eq\s+"[^"]*"\s*$`)

// MaxResults is the largest page the server returns, advertised in ServiceProviderConfig.
const MaxResults = 1000

// defaultCount is the page size when a client gives none.
const defaultCount = 100

// listQuery is a list request, from query parameters or a .search body (RFC 7644 §3.4).
type listQuery struct {
	filter     string
	startIndex int // 1-based
	count      int
	sortBy     string
	descending bool
	proj       projection
}

func listQueryFromURL(r *http.Request) (listQuery, *Error) {
	v := r.URL.Query()
	q := listQuery{filter: v.Get("filter"), sortBy: v.Get("sortBy")}
	var err *Error
	if q.proj, err = parseProjection(v.Get("attributes"), v.Get("excludedAttributes")); err != nil {
		return q, err
	}
	if q.startIndex, err = intParam("startIndex", v.Get("startIndex"), 1); err != nil {
		return q, err
	}
	if q.count, err = intParam("count", v.Get("count"), defaultCount); err != nil {
		return q, err
	}
	if err := q.setOrder(v.Get("sortOrder")); err != nil {
		return q, err
	}
	q.clamp()
	return q, nil
}

// searchRequest is the body of POST .search.
type searchRequest struct {
	Filter             string          `json:"filter"`
	StartIndex         json.RawMessage `json:"startIndex"`
	Count              json.RawMessage `json:"count"`
	SortBy             string          `json:"sortBy"`
	SortOrder          string          `json:"sortOrder"`
	Attributes         json.RawMessage `json:"attributes"`
	ExcludedAttributes json.RawMessage `json:"excludedAttributes"`
}

func listQueryFromBody(w http.ResponseWriter, r *http.Request) (listQuery, *Error) {
	var q listQuery
	body, err := readBody(w, r)
	if err != nil {
		return q, err
	}
	var req searchRequest
	if e := json.Unmarshal(body, &req); e != nil {
		return q, badRequest(errInvalidSyntax, "the body is not a valid SearchRequest: %s", jsonProblem(e))
	}
	q.filter, q.sortBy = req.Filter, req.SortBy
	if q.startIndex, err = intParam("startIndex", rawNumber(req.StartIndex), 1); err != nil {
		return q, err
	}
	if q.count, err = intParam("count", rawNumber(req.Count), defaultCount); err != nil {
		return q, err
	}
	if err := q.setOrder(req.SortOrder); err != nil {
		return q, err
	}
	if q.proj, err = newProjection(stringList(req.Attributes), stringList(req.ExcludedAttributes)); err != nil {
		return q, err
	}
	q.clamp()
	return q, nil
}

// rawNumber accepts 5 and "5".
func rawNumber(raw json.RawMessage) string {
	return strings.Trim(strings.TrimSpace(string(raw)), `"`)
}

// stringList accepts ["a","b"] and "a,b".
func stringList(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return splitList(s)
	}
	return nil
}

func intParam(name, v string, def int) (int, *Error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "null" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest(errInvalidValue, "%s must be an integer", name)
	}
	return n, nil
}

func (q *listQuery) setOrder(order string) *Error {
	switch strings.ToLower(strings.TrimSpace(order)) {
	case "", "ascending":
	case "descending":
		q.descending = true
	default:
		return badRequest(errInvalidValue, "sortOrder must be ascending or descending")
	}
	return nil
}

// clamp applies RFC 7644 §3.4.2.4: a startIndex below 1 means 1, a negative count means
// 0, and count is capped at MaxResults.
func (q *listQuery) clamp() {
	q.startIndex = max(q.startIndex, 1)
	q.count = min(max(q.count, 0), MaxResults)
}

func (q listQuery) page(urn string, sortCols map[string]string) (db.Page, *Error) {
	p := db.Page{Offset: q.startIndex - 1, Limit: q.count, Desc: q.descending}
	if q.sortBy != "" {
		key := strings.ToLower(strings.TrimSpace(q.sortBy))
		key = strings.TrimPrefix(key, strings.ToLower(urn)+":")
		col, ok := sortCols[key]
		if !ok {
			return p, badRequest(errInvalidValue, "cannot sort by %q", truncate(q.sortBy, 100))
		}
		p.OrderBy = col
	}
	return p, nil
}

func translate(filter string, s *filtersql.Schema) (db.Where, *Error) {
	if filter == "" {
		return db.Where{}, nil
	}
	if strings.TrimSpace(filter) == "" {
		return db.Where{}, badRequest(errInvalidFilter, "the filter is empty")
	}
	w, err := filtersql.Translate(filter, s)
	if err != nil {
		if errors.Is(err, filtersql.ErrInvalidFilter) {
			return w, badRequest(errInvalidFilter, "%s", err.Error())
		}
		return w, badRequest(errInvalidFilter, "the filter could not be used")
	}
	return w, nil
}

// listWriter writes a ListResponse into one buffer, resource by resource, so a page is
// built without a buffer per resource.
type listWriter struct {
	buf  bytes.Buffer
	n    int
	proj projection
	norm normalizer
}

func newListWriter(total, startIndex, items int, proj projection, norm normalizer) *listWriter {
	lw := &listWriter{proj: proj, norm: norm}
	lw.buf.Grow(200 + items*800)
	lw.buf.WriteString(`{"schemas":["` + URNListResponse + `"],"totalResults":`)
	lw.buf.WriteString(strconv.Itoa(total))
	lw.buf.WriteString(`,"startIndex":`)
	lw.buf.WriteString(strconv.Itoa(startIndex))
	lw.buf.WriteString(`,"itemsPerPage":`)
	lw.buf.WriteString(strconv.Itoa(items))
	lw.buf.WriteString(`,"Resources":[`)
	return lw
}

// add renders one resource with render, applying the projection if one was asked for.
func (lw *listWriter) add(render func(*bytes.Buffer)) {
	if lw.n > 0 {
		lw.buf.WriteByte(',')
	}
	lw.n++
	if lw.proj.empty() {
		render(&lw.buf)
		return
	}
	var one bytes.Buffer
	render(&one)
	lw.buf.Write(lw.proj.apply(lw.norm, one.Bytes()))
}

func (lw *listWriter) write(w http.ResponseWriter) {
	lw.buf.WriteString(`]}`)
	writeRaw(w, http.StatusOK, lw.buf.Bytes())
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, q listQuery) {
	where, err := translate(q.filter, userFilterSchema)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := q.page(URNUser, userSortColumns)
	if err != nil {
		writeError(w, err)
		return
	}
	p.Few = p.Offset == 0 && uniqueLookup.MatchString(q.filter)
	users, total, e := s.db.ListUsers(r.Context(), where, p)
	if e != nil {
		s.log.Error("list users", "err", e)
		writeError(w, storeErr(e))
		return
	}
	base := s.base(r)
	lw := newListWriter(total, q.startIndex, len(users), q.proj, userNormalizer)
	for i := range users {
		lw.add(func(buf *bytes.Buffer) { renderUser(buf, base, &users[i]) })
	}
	lw.write(w)
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, q listQuery) {
	where, err := translate(q.filter, groupFilterSchema)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := q.page(URNGroup, groupSortColumns)
	if err != nil {
		writeError(w, err)
		return
	}
	groups, total, e := s.db.ListGroups(r.Context(), where, p)
	if e != nil {
		s.log.Error("list groups", "err", e)
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
			s.log.Error("list group members", "err", e)
			writeError(w, storeErr(e))
			return
		}
	}
	base := s.base(r)
	lw := newListWriter(total, q.startIndex, len(groups), q.proj, groupNormalizer)
	for i := range groups {
		lw.add(func(buf *bytes.Buffer) { renderGroup(buf, base, &groups[i], members[groups[i].Seq], withMembers) })
	}
	lw.write(w)
}
