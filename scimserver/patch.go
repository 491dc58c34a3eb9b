package scimserver

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"scimdesk/db"
	"scimdesk/scimserver/filtersql"
)

// patchRequest is an RFC 7644 §3.5.2 PatchOp message.
type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// maxPatchOps bounds the work one request can ask for.
const maxPatchOps = 1000

// Each path filter is within the limits of a list filter, but a request has up to
// maxPatchOps of them, and each is evaluated in the writer on every element it may
// select. These bound the sum, far above what any identity provider sends (one or two
// comparisons per operation; Okta's member removal is value eq, which needs no scan).
const (
	// maxPatchComparisons bounds the comparisons in all the paths of one request.
	maxPatchComparisons = 2000
	// maxMemberScans bounds the member filters of one request that must look at every
	// member (anything but value eq "id" and value sw "prefix").
	maxMemberScans = 16
)

// A PATCH runs in two phases. compilePatch, before the write transaction, parses every
// path (with the limits of a list filter), resolves the attributes and checks and
// converts every value into steps. Inside the single writer only the in-memory
// application of those steps to the stored document remains, plus the member
// statements of a group: a hostile request is refused before it can hold the writer.

// step is one checked change to one attribute (an operation without a path, or with the
// whole extension as its path, becomes one step per attribute of its value).
type step struct {
	kind string // add, replace or remove

	noop       bool    // an attribute we do not keep, schemas, meta, a repeated id
	ext        *schema // the whole extension: only "remove" (add and replace expand)
	externalID bool
	r          resolved          // the attribute, and its sub-attribute without a filter
	filter     filter.Expression // the value filter in brackets, or nil
	after      *attr             // the sub-attribute after the brackets, or nil
	val        any               // the converted value (nil for remove)
	eqs        map[string]any    // for a filtered add that makes a new element: its sub-attributes

	members bool     // a group's members
	ids     []string // member ids of the value
	eqID    string   // members[value eq "id"]: the id, which needs no read of the list
}

// needsMemberList says whether applying s needs the group's whole member list: a member
// filter other than value eq "id".
func (s *step) needsMemberList() bool {
	return s.members && s.filter != nil && s.eqID == ""
}

// compilePatch turns a PatchOp message into checked steps, outside the write transaction.
func compilePatch(n normalizer, isGroup bool, id string, ops []patchOp) ([]step, *Error) {
	c := compiler{n: n, isGroup: isGroup, id: id}
	for _, op := range ops {
		if err := c.op(op); err != nil {
			return nil, err
		}
	}
	if c.comparisons > maxPatchComparisons {
		return nil, badRequest(errInvalidFilter, "the paths of one request may have at most %d comparisons in all", maxPatchComparisons)
	}
	scans := 0
	for i := range c.steps {
		if c.steps[i].needsMemberList() && !indexedMemberFilter(c.steps[i].filter) {
			scans++
		}
	}
	if scans > maxMemberScans {
		return nil, badRequest(errInvalidFilter, "at most %d member filters other than value eq and value sw per request", maxMemberScans)
	}
	return c.steps, nil
}

type compiler struct {
	n           normalizer
	isGroup     bool
	id          string
	steps       []step
	comparisons int
}

func (c *compiler) op(op patchOp) *Error {
	kind := strings.ToLower(strings.TrimSpace(op.Op))
	switch kind {
	case "add", "replace", "remove":
	default:
		return badRequest(errInvalidSyntax, "unknown PATCH op %q (want add, replace or remove)", truncate(op.Op, 32))
	}
	path := strings.TrimSpace(op.Path)
	if path == "" {
		if kind == "remove" {
			return badRequest(errNoTarget, "remove needs a path")
		}
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return badRequest(errInvalidValue, "%s without a path needs an object value", kind)
		}
		if err := checkDupKeys(obj, "value"); err != nil {
			return err
		}
		for k, v := range obj {
			if e := c.n.extension(k); e != nil {
				if err := c.extObject(kind, e, v, false); err != nil {
					return err
				}
				continue
			}
			if err := c.path(kind, k, v); err != nil {
				return err
			}
		}
		return nil
	}
	if e := c.n.extension(path); e != nil {
		// The whole extension (RFC 7644 §3.5.2: the path names a complex attribute):
		// add merges its attributes, replace replaces it, remove removes it.
		switch kind {
		case "remove":
			c.steps = append(c.steps, step{kind: "remove", ext: e})
			return nil
		case "replace":
			c.steps = append(c.steps, step{kind: "remove", ext: e})
		}
		return c.extObject(kind, e, op.Value, true)
	}
	return c.path(kind, path, op.Value)
}

// extObject expands an extension object into one step per attribute.
func (c *compiler) extObject(kind string, e *schema, v any, pathGiven bool) *Error {
	sub, ok := v.(map[string]any)
	if !ok {
		if v == nil && pathGiven && kind == "replace" {
			return nil // replaced by nothing: removed
		}
		return badRequest(errInvalidValue, "%s must be an object", e.ID)
	}
	if err := checkDupKeys(sub, e.ID); err != nil {
		return err
	}
	for sk, sv := range sub {
		if strings.EqualFold(sk, "schemas") {
			continue
		}
		if err := c.path(kind, e.ID+":"+sk, sv); err != nil {
			return err
		}
	}
	return nil
}

// path compiles one operation on the attribute that path names.
func (c *compiler) path(kind, path string, value any) *Error {
	switch strings.ToLower(path) {
	case "schemas", "meta":
		c.steps = append(c.steps, step{noop: true})
		return nil
	case "id":
		if s, ok := value.(string); ok && s == c.id && kind != "remove" {
			c.steps = append(c.steps, step{noop: true}) // Okta repeats the id when it renames a group
			return nil
		}
		return badRequest(errMutability, "id cannot be changed")
	}
	fp, perr := filtersql.ParsePath(path)
	if perr != nil {
		return badRequest(errInvalidPath, "cannot parse path %q: %s", truncate(path, 64), filterDetail(perr))
	}
	name := fp.Attr.AttributeName
	if fp.Attr.URIPrefix != nil {
		name = *fp.Attr.URIPrefix + ":" + name
	}
	if fp.Attr.SubAttribute != nil {
		name += "." + *fp.Attr.SubAttribute
	}
	r, ok := c.n.resolve(name)
	if !ok {
		if strings.HasPrefix(strings.ToLower(name), "meta.") {
			return badRequest(errMutability, "meta is read only")
		}
		c.steps = append(c.steps, step{noop: true}) // an attribute we do not keep: ignored, as in a POST body
		return nil
	}
	s := step{kind: kind, r: r, filter: fp.Filter}
	if r.externalID {
		if fp.Filter != nil {
			return badRequest(errInvalidPath, "externalId is not multi-valued")
		}
		s.externalID = true
		if kind != "remove" {
			v, err := coerceString(attrExternalID, unwrapOne(value))
			if err != nil {
				return err
			}
			s.val = v
		}
		c.steps = append(c.steps, s)
		return nil
	}
	a := r.attr
	if a.Mutability == "readOnly" {
		return badRequest(errMutability, "%s is read only", a.Name)
	}
	if a.Mutability == "writeOnly" {
		c.steps = append(c.steps, step{noop: true}) // password: accepted, never stored
		return nil
	}
	if fp.Filter != nil && !a.Multi {
		return badRequest(errInvalidPath, "%s is not multi-valued: a filter does not apply", a.Name)
	}
	if fp.Filter != nil {
		n, err := checkFilterNames(fp.Filter, a)
		if err != nil {
			return err
		}
		c.comparisons += n
	}
	if fp.Sub != "" {
		if s.after = a.sub(fp.Sub); s.after == nil {
			return badRequest(errInvalidPath, "%s has no sub-attribute %q", a.Name, truncate(fp.Sub, 64))
		}
	}
	if c.isGroup && a.Name == "members" {
		return c.members(s, value)
	}
	if r.ext == nil && a.Name == "active" && (kind == "remove" || value == nil) {
		// Read back, an absent active is true: removing it would reactivate a
		// deactivated user, which no client means by "remove". Refused, so that the
		// answer never claims a change the server did not make.
		return badRequest(errMutability, "active cannot be removed: replace it with true or false")
	}
	var err *Error
	switch {
	case kind == "remove":
		if fp.Filter == nil && r.sub == nil && a.Required {
			return badRequest(errMutability, "%s is required and cannot be removed", a.Name)
		}
	case fp.Filter != nil && s.after != nil:
		s.val, err = coerceSingle(s.after, unwrapOne(value), a.Name+"."+s.after.Name)
	case fp.Filter != nil:
		s.val, err = coerceSingle(a, unwrapOne(value), a.Name)
	case r.sub != nil:
		s.val, err = coerceSingle(r.sub, unwrapOne(value), a.Name+"."+r.sub.Name)
	default:
		s.val, err = coerce(a, value, a.Name)
		if err == nil && a.Required && isEmpty(s.val) && !(a.Type == typeComplex && !a.Multi) {
			return badRequest(errInvalidValue, "%s is required", a.Name)
		}
	}
	if err != nil {
		return err
	}
	if fp.Filter != nil && kind == "add" {
		// An add whose filter matches nothing makes the element from the filter's
		// equalities, which is what Entra ID expects of emails[type eq "work"].value.
		eqs := map[string]any{}
		equalities(fp.Filter, eqs)
		s.eqs = map[string]any{}
		for k, v := range eqs {
			if sub := a.sub(k); sub != nil {
				if cv, cerr := coerceSingle(sub, v, a.Name+"."+sub.Name); cerr == nil {
					setOrDelete(s.eqs, sub.Name, cv)
				}
			}
		}
	}
	c.steps = append(c.steps, s)
	return nil
}

// members compiles an operation on a group's members.
func (c *compiler) members(s step, value any) *Error {
	s.members = true
	if s.r.sub != nil && s.r.sub.Name != "value" || s.after != nil && s.after.Name != "value" {
		return badRequest(errInvalidPath, "only members and members.value can be changed")
	}
	if x, ok := s.filter.(*filter.AttributeExpression); ok && strings.EqualFold(string(x.Operator), "eq") &&
		strings.EqualFold(x.AttributePath.AttributeName, "value") && x.AttributePath.SubAttribute == nil {
		id, _ := x.CompareValue.(string)
		s.eqID = id
		if id == "" {
			return badRequest(errInvalidPath, "members[value eq ...] needs a user id string")
		}
	}
	if s.kind != "remove" || (s.filter == nil && value != nil) {
		ids, err := memberIDs(value)
		if err != nil {
			return err
		}
		s.ids = ids
	}
	c.steps = append(c.steps, s)
	return nil
}

// checkFilterNames refuses a value filter that names something other than a
// sub-attribute of a, before the write: the filter would otherwise fail inside it. It
// returns the number of comparisons in the filter.
func checkFilterNames(e filter.Expression, a *attr) (int, *Error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, err := checkFilterNames(x.Left, a)
		if err != nil {
			return 0, err
		}
		r, err := checkFilterNames(x.Right, a)
		return l + r, err
	case *filter.NotExpression:
		return checkFilterNames(x.Expression, a)
	case *filter.AttributeExpression:
		name := x.AttributePath.AttributeName
		if x.AttributePath.SubAttribute != nil {
			name = *x.AttributePath.SubAttribute
		}
		if a.sub(name) == nil {
			return 0, badRequest(errInvalidPath, "%s has no sub-attribute %q", a.Name, truncate(name, 64))
		}
		return 1, nil
	}
	return 0, badRequest(errInvalidPath, "unsupported value filter in path")
}

// filterDetail is the client-safe detail of a filtersql error.
func filterDetail(err error) string {
	if fe, ok := err.(*filtersql.Error); ok {
		return fe.Detail
	}
	return "invalid path"
}

func unwrapOne(v any) any {
	if list, ok := v.([]any); ok && len(list) == 1 {
		return list[0]
	}
	return v
}

// patcher applies compiled steps, in order, to one resource inside a write transaction:
// attributes to the resource's doc, group members to the database (see memberPatch), so
// that the whole request commits or rolls back as one.
type patcher struct {
	d  doc
	mp *memberPatch // groups only
}

func (p *patcher) apply(s *step) *Error {
	switch {
	case s.noop:
		return nil
	case s.members:
		return p.mp.apply(s)
	case s.ext != nil:
		delete(p.d, s.ext.ID)
		return nil
	case s.externalID:
		setOrDelete(p.d, attrExternalID, s.val)
		return nil
	}
	m := p.d
	if s.r.ext != nil {
		sub, _ := p.d[s.r.ext.ID].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
		}
		m = sub
		defer setOrDelete(p.d, s.r.ext.ID, sub)
	}
	a := s.r.attr
	var err *Error
	switch {
	case s.filter != nil:
		err = p.filtered(s, m, a)
	case s.r.sub != nil:
		p.subAttr(s, m, a, s.r.sub)
	default:
		p.whole(s, m, a)
	}
	if err != nil {
		return err
	}
	// Limits hold for the result of every step, so that no sequence of operations
	// builds what one request could not send.
	if list, ok := m[a.Name].([]any); ok && a.Multi && len(list) > maxValues {
		return badRequest(errInvalidValue, "%s would have more than %d values", a.Name, maxValues)
	}
	return nil
}

// whole applies an operation to a whole attribute.
func (p *patcher) whole(s *step, m map[string]any, a *attr) {
	switch {
	case s.kind == "remove":
		delete(m, a.Name)
	case a.Multi && s.kind == "add":
		list, _ := m[a.Name].([]any)
		added, _ := s.val.([]any)
		added = cloneList(added) // a step's value is never changed: it may be applied again
		list = preferPrimary(append(list, added...), added)
		setOrDelete(m, a.Name, mergeDuplicates(a, list))
	case a.Type == typeComplex && !a.Multi:
		// RFC 7644 §3.5.2.1 and .3: sub-attributes not given are left unchanged.
		cur, _ := m[a.Name].(map[string]any)
		if cur == nil {
			cur = map[string]any{}
		}
		if nv, ok := s.val.(map[string]any); ok {
			for k, v := range nv {
				cur[k] = v
			}
		}
		setOrDelete(m, a.Name, any(cur))
	default:
		setOrDelete(m, a.Name, cloneValue(s.val))
	}
}

// subAttr applies an operation to a sub-attribute (name.givenName, manager.value, or
// emails.value, which means that sub-attribute of every element).
func (p *patcher) subAttr(s *step, m map[string]any, a, sub *attr) {
	if !a.Multi {
		parent, _ := m[a.Name].(map[string]any)
		if parent == nil {
			parent = map[string]any{}
		}
		setOrDelete(parent, sub.Name, s.val)
		setOrDelete(m, a.Name, any(parent))
		return
	}
	list, _ := m[a.Name].([]any)
	if len(list) == 0 && s.kind == "add" {
		list = []any{map[string]any{}}
	}
	for _, e := range list {
		if obj, ok := e.(map[string]any); ok {
			setOrDelete(obj, sub.Name, s.val)
		}
	}
	setOrDelete(m, a.Name, mergeDuplicates(a, dropEmpty(list)))
}

// filtered applies an operation to the elements of a multi-valued attribute that a value
// filter selects (emails[type eq "work"], optionally followed by .value).
func (p *patcher) filtered(s *step, m map[string]any, a *attr) *Error {
	list, _ := m[a.Name].([]any)
	hits := make([]bool, len(list))
	nhits := 0
	for i, e := range list {
		ok, err := matchValue(s.filter, a, e)
		if err != nil {
			return err
		}
		if ok {
			hits[i] = true
			nhits++
		}
	}
	if nhits == 0 && s.kind != "add" {
		return &Error{Status: 400, ScimType: errNoTarget, Detail: "no value of " + a.Name + " matches the filter in the path"}
	}
	var touched []any
	switch {
	case s.kind == "remove" && s.after == nil:
		keep := list[:0:0]
		for i, e := range list {
			if !hits[i] {
				keep = append(keep, e)
			}
		}
		list = keep
	case nhits == 0: // add to an element that does not exist yet: make it from the filter
		elem := map[string]any{}
		for k, v := range s.eqs {
			elem[k] = v
		}
		if s.after != nil {
			setOrDelete(elem, s.after.Name, s.val)
		} else if obj, ok := s.val.(map[string]any); ok {
			for k, v := range obj {
				elem[k] = v
			}
		}
		list = append(list, any(elem))
		touched = append(touched, any(elem))
	default:
		for i := range list {
			if !hits[i] {
				continue
			}
			obj, _ := list[i].(map[string]any)
			if obj == nil {
				obj = map[string]any{}
			}
			switch {
			case s.after != nil:
				setOrDelete(obj, s.after.Name, s.val)
			case s.kind == "replace":
				obj, _ = cloneValue(s.val).(map[string]any)
			default: // add: merge
				if nv, ok := s.val.(map[string]any); ok {
					for k, v := range nv {
						obj[k] = v
					}
				}
			}
			list[i] = obj
			touched = append(touched, any(obj))
		}
	}
	setOrDelete(m, a.Name, mergeDuplicates(a, preferPrimary(dropEmpty(list), touched)))
	return nil
}

// cloneValue copies the maps and lists of a converted value, so that applying a step
// never aliases its value into the document.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		return cloneList(x)
	}
	return v
}

func cloneList(list []any) []any {
	out := make([]any, len(list))
	for i, e := range list {
		out[i] = cloneValue(e)
	}
	return out
}

// preferPrimary keeps one primary value, preferring one that this operation set: RFC 7644
// §3.5.2 says a new primary value turns the old one off.
func preferPrimary(list, touched []any) []any {
	var chosen map[string]any
	for _, t := range touched {
		if obj, ok := t.(map[string]any); ok {
			if b, _ := obj["primary"].(bool); b {
				chosen = obj
			}
		}
	}
	if chosen == nil {
		onePrimary(list)
		return list
	}
	for _, e := range list {
		if obj, ok := e.(map[string]any); ok && !sameMap(obj, chosen) {
			if b, _ := obj["primary"].(bool); b {
				obj["primary"] = false
			}
		}
	}
	return list
}

func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

func dropEmpty(list []any) []any {
	out := list[:0]
	for _, e := range list {
		if !isEmpty(e) {
			out = append(out, e)
		}
	}
	return out
}

// memberIDs reads the user ids out of a members value: an array of {"value": id} (Okta,
// Entra), a single such object, or bare id strings.
func memberIDs(value any) ([]string, *Error) {
	list, ok := value.([]any)
	if !ok {
		if value == nil {
			return nil, nil
		}
		list = []any{value}
	}
	ids := make([]string, 0, len(list))
	for _, e := range list {
		switch x := e.(type) {
		case string:
			ids = append(ids, x)
		case map[string]any:
			var id string
			for k, v := range x {
				if strings.EqualFold(k, "value") {
					id, _ = v.(string)
				}
			}
			if id == "" {
				return nil, badRequest(errInvalidValue, "each member needs a \"value\" with the user's id")
			}
			ids = append(ids, id)
		default:
			return nil, badRequest(errInvalidValue, "members must be objects with a \"value\"")
		}
	}
	return ids, nil
}

// memberPatch applies a group PATCH's member steps. When no step needs the member list,
// each step is one set-based statement (add, remove by ids, members[value eq "id"]).
// Otherwise the list is read once, every member step applies to it in memory, and the
// difference is written once when the request is done: an operation never re-reads it.
type memberPatch struct {
	ctx     context.Context
	tx      *db.Tx
	seq     int64
	list    *memberList // the whole list, when a step needs it
	changed bool
}

func newMemberPatch(ctx context.Context, tx *db.Tx, seq int64, steps []step) (*memberPatch, error) {
	mp := &memberPatch{ctx: ctx, tx: tx, seq: seq}
	for i := range steps {
		if steps[i].needsMemberList() {
			members, err := tx.MembersOfGroups(ctx, []int64{seq})
			if err != nil {
				return nil, err
			}
			mp.list = newMemberList(members[seq])
			break
		}
	}
	return mp, nil
}

func (mp *memberPatch) apply(s *step) *Error {
	if mp.list != nil {
		return mp.applyInMemory(s)
	}
	switch {
	case s.filter != nil: // members[value eq "id"]: the only filter without the list
		n, err := mp.tx.RemoveMembers(mp.ctx, mp.seq, []string{s.eqID})
		if err != nil {
			return storeErr(err)
		}
		if n == 0 {
			return badRequest(errNoTarget, "no member matches the filter in the path")
		}
		mp.changed = true
		if s.kind != "remove" {
			return mp.add(s.ids)
		}
		return nil
	case s.kind == "add":
		return mp.add(s.ids)
	case s.kind == "replace" || s.ids == nil:
		if err := mp.tx.ClearMembers(mp.ctx, mp.seq); err != nil {
			return storeErr(err)
		}
		mp.changed = true
		return mp.add(s.ids)
	default:
		// Entra ID removes members with a value list; removing one who is already gone is
		// not an error there (unlike a filtered path that matches nothing), since Entra
		// would otherwise retry forever.
		n, err := mp.tx.RemoveMembers(mp.ctx, mp.seq, s.ids)
		if err != nil {
			return storeErr(err)
		}
		mp.changed = mp.changed || n > 0
		return nil
	}
}

func (mp *memberPatch) add(ids []string) *Error {
	if len(ids) == 0 {
		return nil
	}
	n, err := mp.tx.AddMembersN(mp.ctx, mp.seq, ids)
	mp.changed = mp.changed || n > 0
	return storeErr(err)
}

func (mp *memberPatch) applyInMemory(s *step) *Error {
	l := mp.list
	switch {
	case s.filter != nil:
		n, err := l.removeMatching(s.filter, mp.tx.OverBudget)
		if err != nil {
			return err
		}
		if n == 0 {
			return badRequest(errNoTarget, "no member matches the filter in the path")
		}
		if s.kind == "remove" {
			return nil
		}
	case s.kind == "add":
	case s.kind == "replace" || s.ids == nil:
		l.clear()
	default:
		l.removeIDs(s.ids)
		return nil
	}
	if len(s.ids) == 0 {
		return nil
	}
	members, err := mp.tx.ResolveMembers(mp.ctx, s.ids)
	if err != nil {
		return storeErr(err)
	}
	l.add(members)
	return nil
}

// finish writes what the in-memory list changed, once.
func (mp *memberPatch) finish() *Error {
	if mp.list == nil {
		return nil
	}
	removed, added := mp.list.diff()
	if len(removed) > 0 {
		if err := mp.tx.DeleteMemberSeqs(mp.ctx, mp.seq, removed); err != nil {
			return storeErr(err)
		}
	}
	if len(added) > 0 {
		if err := mp.tx.InsertMemberSeqs(mp.ctx, mp.seq, added); err != nil {
			return storeErr(err)
		}
	}
	mp.changed = len(removed)+len(added) > 0
	return nil
}

// memberList is a group's members in memory. An entry, once there, keeps its index: a
// removed member is marked dead (and comes back to life if added again), so the
// difference from the stored list is the dead entries of the first n and the live ones
// after them.
type memberList struct {
	ms      []db.Member
	dead    []bool
	byID    map[string]int
	initial int
	// sorted holds the indices of ms[:nsorted] in UserID order, for members[value sw
	// "prefix"], built when first needed; entries added later are searched one by one
	// until there are enough of them to sort again.
	sorted  []int
	nsorted int
}

func newMemberList(ms []db.Member) *memberList {
	l := &memberList{ms: ms, dead: make([]bool, len(ms)), byID: make(map[string]int, len(ms)), initial: len(ms)}
	for i, m := range ms {
		l.byID[m.UserID] = i
	}
	return l
}

func (l *memberList) add(ms []db.Member) {
	for _, m := range ms {
		if i, ok := l.byID[m.UserID]; ok {
			l.dead[i] = false
			continue
		}
		l.byID[m.UserID] = len(l.ms)
		l.ms = append(l.ms, m)
		l.dead = append(l.dead, false)
	}
}

func (l *memberList) removeIDs(ids []string) {
	for _, id := range ids {
		if i, ok := l.byID[id]; ok {
			l.dead[i] = true
		}
	}
}

func (l *memberList) clear() {
	for i := range l.dead {
		l.dead[i] = true
	}
}

// removeMatching removes the live members a value filter selects and says how many.
// value eq "id" is a map lookup and value sw "prefix" a range of the sorted ids, so a
// request of many such operations costs no pass over the list each; any other filter is
// one pass.
//
// A pass over a big group with a costly filter is the one long piece of work a PATCH does
// in memory inside the writer, so it stops when the write's budget is spent (stop).
func (l *memberList) removeMatching(expr filter.Expression, stop func() bool) (int, *Error) {
	if indexedMemberFilter(expr) {
		x := expr.(*filter.AttributeExpression)
		want := x.CompareValue.(string)
		if strings.EqualFold(string(x.Operator), "sw") {
			return l.removePrefix(want), nil
		}
		if i, ok := l.byID[want]; ok && !l.dead[i] {
			l.dead[i] = true
			return 1, nil
		}
		return 0, nil
	}
	a := groupSchema.attr("members")
	n := 0
	for i := range l.ms {
		if i%256 == 255 && stop() {
			return 0, errOverBudget
		}
		if l.dead[i] {
			continue
		}
		m := &l.ms[i]
		ok, err := matchWith(expr, a, func(name string) any {
			switch name {
			case "value":
				return m.UserID
			case "display":
				return m.Display
			case "type":
				return "User"
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		if ok {
			l.dead[i] = true
			n++
		}
	}
	return n, nil
}

func (l *memberList) removePrefix(prefix string) int {
	if len(l.ms)-l.nsorted > 1024 || l.sorted == nil {
		l.sorted = make([]int, len(l.ms))
		for i := range l.sorted {
			l.sorted[i] = i
		}
		slices.SortFunc(l.sorted, func(a, b int) int { return strings.Compare(l.ms[a].UserID, l.ms[b].UserID) })
		l.nsorted = len(l.ms)
	}
	n := 0
	start, _ := slices.BinarySearchFunc(l.sorted, prefix, func(i int, p string) int { return strings.Compare(l.ms[i].UserID, p) })
	for _, i := range l.sorted[start:] {
		if !strings.HasPrefix(l.ms[i].UserID, prefix) {
			break
		}
		if !l.dead[i] {
			l.dead[i] = true
			n++
		}
	}
	for i := l.nsorted; i < len(l.ms); i++ {
		if !l.dead[i] && strings.HasPrefix(l.ms[i].UserID, prefix) {
			l.dead[i] = true
			n++
		}
	}
	return n
}

// errOverBudget ends a write whose budget ran out during work in memory; the writer
// reports the write as over budget whatever error it returned.
var errOverBudget = &Error{Status: http.StatusServiceUnavailable, Detail: "the request needed more database time than allowed"}

// indexedMemberFilter says whether a member filter is value eq "id" or value sw
// "prefix", which memberList answers without a pass over the members.
func indexedMemberFilter(expr filter.Expression) bool {
	x, ok := expr.(*filter.AttributeExpression)
	if !ok || x.AttributePath.SubAttribute != nil || !strings.EqualFold(x.AttributePath.AttributeName, "value") {
		return false
	}
	_, isString := x.CompareValue.(string)
	op := strings.ToLower(string(x.Operator))
	return isString && (op == "eq" || op == "sw")
}

// diff is the user seqs to delete from and to insert into the stored list.
func (l *memberList) diff() (removed, added []int64) {
	for i, m := range l.ms {
		switch {
		case i < l.initial && l.dead[i]:
			removed = append(removed, m.UserSeq)
		case i >= l.initial && !l.dead[i]:
			added = append(added, m.UserSeq)
		}
	}
	return removed, added
}

// decodePatch reads and checks a PatchOp body.
func decodePatch(body []byte) (patchRequest, *Error) {
	var req patchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return req, badRequest(errInvalidSyntax, "the body is not a valid PatchOp message: %s", jsonProblem(err))
	}
	if name := duplicateName(body); name != "" {
		return req, badRequest(errInvalidSyntax, "the attribute %q appears twice in one object", truncate(name, 64))
	}
	if len(req.Operations) == 0 {
		return req, badRequest(errInvalidValue, "a PatchOp message needs at least one operation in \"Operations\"")
	}
	if len(req.Operations) > maxPatchOps {
		return req, badRequest(errTooMany, "at most %d operations per request", maxPatchOps)
	}
	return req, nil
}
