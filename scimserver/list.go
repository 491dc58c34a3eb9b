package scimserver

import (
	"bytes"
	"context"
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

// listWriter streams a ListResponse resource by resource. The start of the body is held
// back until it passes flushAt, so that a list failing early (a filter past its read
// budget) still gets a proper SCIM error; after that it goes out as it is made, and a
// failure cuts the connection rather than sending a truncated list as if it were whole.
// itemsPerPage comes after Resources, where it is known exactly (JSON members have no
// order).
type listWriter struct {
	w    http.ResponseWriter
	buf  bytes.Buffer
	one  bytes.Buffer // one resource, when a projection must be applied to it
	n    int
	sent bool
	proj projection
	norm normalizer
}

// flushAt is how much of a list is buffered before it starts going out.
const flushAt = 64 << 10

func newListWriter(w http.ResponseWriter, proj projection, norm normalizer) *listWriter {
	return &listWriter{w: w, proj: proj, norm: norm}
}

// start writes the head of the list, once the number of matches is known.
func (lw *listWriter) start(total, startIndex int) error {
	lw.buf.WriteString(`{"schemas":["` + URNListResponse + `"],"totalResults":`)
	lw.buf.WriteString(strconv.Itoa(total))
	lw.buf.WriteString(`,"startIndex":`)
	lw.buf.WriteString(strconv.Itoa(startIndex))
	lw.buf.WriteString(`,"Resources":[`)
	return nil
}

// add renders one resource with render, applying the projection if one was asked for.
func (lw *listWriter) add(render func(*bytes.Buffer)) error {
	if lw.n > 0 {
		lw.buf.WriteByte(',')
	}
	lw.n++
	if lw.proj.empty() {
		render(&lw.buf)
	} else {
		lw.one.Reset()
		render(&lw.one)
		lw.buf.Write(lw.proj.apply(lw.norm, lw.one.Bytes()))
	}
	if lw.buf.Len() >= flushAt {
		return lw.flush()
	}
	return nil
}

func (lw *listWriter) flush() error {
	if !lw.sent {
		h := lw.w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "no-store")
		lw.w.WriteHeader(http.StatusOK)
		lw.sent = true
	}
	_, err := lw.w.Write(lw.buf.Bytes())
	lw.buf.Reset()
	return err
}

// finish ends the list, or answers err: as a SCIM error if nothing has been sent yet,
// else by cutting the connection.
func (lw *listWriter) finish(ctx context.Context, s *Server, what string, err error) {
	if err == nil {
		lw.buf.WriteString(`],"itemsPerPage":`)
		lw.buf.WriteString(strconv.Itoa(lw.n))
		lw.buf.WriteString(`}`)
		lw.flush()
		return
	}
	if !errors.Is(err, db.ErrReadBudget) {
		s.logErr(ctx, what, err)
	}
	if lw.sent {
		panic(http.ErrAbortHandler)
	}
	writeError(lw.w, storeErr(err))
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, q listQuery) {
	where, err := translate(q.filter, s.filters().user)
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
	base := s.base(r)
	lw := newListWriter(w, q.proj, userNormalizer)
	e := s.db.EachUser(r.Context(), where, p, func(total int) error {
		noteTotal(r.Context(), total)
		return lw.start(total, q.startIndex)
	}, func(u *db.User) error {
		return lw.add(func(buf *bytes.Buffer) { renderUser(buf, base, u) })
	})
	lw.finish(r.Context(), s, "list users", e)
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, q listQuery) {
	where, err := translate(q.filter, s.filters().group)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := q.page(URNGroup, groupSortColumns)
	if err != nil {
		writeError(w, err)
		return
	}
	withMembers := !q.proj.excludes("members")
	base := s.base(r)
	lw := newListWriter(w, q.proj, groupNormalizer)
	e := s.db.EachGroup(r.Context(), where, p, withMembers, func(total int) error {
		return lw.start(total, q.startIndex)
	}, func(g *db.Group, members []db.Member) error {
		return lw.add(func(buf *bytes.Buffer) { renderGroup(buf, base, g, members, withMembers) })
	})
	lw.finish(r.Context(), s, "list groups", e)
}
