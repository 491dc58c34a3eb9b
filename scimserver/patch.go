package scimserver

import (
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"scimdesk/db"
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

// patcher applies PATCH operations, in order, to one resource inside a write transaction:
// attributes to the resource's doc, group members straight to the database, so that the
// whole request commits or rolls back as one.
type patcher struct {
	n  normalizer
	d  doc
	id string

	// For groups only: member changes go to the database through tx.
	ctx      context.Context
	tx       *db.Tx
	groupSeq int64
	isGroup  bool
	// membersChanged tells the caller to re-read members for the response.
	membersChanged bool
}

func (p *patcher) apply(op patchOp) *Error {
	kind := strings.ToLower(strings.TrimSpace(op.Op))
	switch kind {
	case "add", "replace", "remove":
	default:
		return badRequest(errInvalidSyntax, "unknown PATCH op %q (want add, replace or remove)", op.Op)
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
		for k, v := range obj {
			if e := p.n.extension(k); e != nil {
				sub, ok := v.(map[string]any)
				if !ok {
					return badRequest(errInvalidValue, "%s must be an object", e.ID)
				}
				for sk, sv := range sub {
					if err := p.applyPath(kind, e.ID+":"+sk, sv); err != nil {
						return err
					}
				}
				continue
			}
			if err := p.applyPath(kind, k, v); err != nil {
				return err
			}
		}
		return nil
	}
	return p.applyPath(kind, path, op.Value)
}

// applyPath applies one operation to the attribute that path names.
func (p *patcher) applyPath(kind, path string, value any) *Error {
	switch strings.ToLower(path) {
	case "schemas", "meta":
		return nil
	case "id":
		if s, ok := value.(string); ok && s == p.id && kind != "remove" {
			return nil // Okta repeats the id when it renames a group
		}
		return badRequest(errMutability, "id cannot be changed")
	}
	fp, err := parsePath(path)
	if err != nil {
		return badRequest(errInvalidPath, "cannot parse path %q", path)
	}
	name := fp.AttributePath.AttributeName
	if fp.AttributePath.URIPrefix != nil {
		name = *fp.AttributePath.URIPrefix + ":" + name
	}
	if fp.AttributePath.SubAttribute != nil {
		name += "." + *fp.AttributePath.SubAttribute
	}
	r, ok := p.n.resolve(name)
	if !ok {
		if strings.HasPrefix(strings.ToLower(name), "meta.") {
			return badRequest(errMutability, "meta is read only")
		}
		return nil // an attribute we do not keep: ignored, as in a POST body
	}
	if r.externalID {
		if fp.ValueExpression != nil {
			return badRequest(errInvalidPath, "externalId is not multi-valued")
		}
		if kind == "remove" {
			delete(p.d, attrExternalID)
			return nil
		}
		s, err := coerceString(attrExternalID, unwrapOne(value))
		if err != nil {
			return err
		}
		setOrDelete(p.d, attrExternalID, s)
		return nil
	}
	a := r.attr
	if a.Mutability == "readOnly" {
		return badRequest(errMutability, "%s is read only", a.Name)
	}
	if a.Mutability == "writeOnly" {
		return nil // password: accepted, never stored
	}
	if p.isGroup && a.Name == "members" {
		return p.members(kind, fp, value)
	}
	var after *attr
	if fp.SubAttribute != nil {
		if after = a.sub(*fp.SubAttribute); after == nil {
			return badRequest(errInvalidPath, "%s has no sub-attribute %q", a.Name, *fp.SubAttribute)
		}
	}
	m := p.d
	if r.ext != nil {
		sub, _ := p.d[r.ext.ID].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
		}
		m = sub
		defer setOrDelete(p.d, r.ext.ID, sub)
	}
	if fp.ValueExpression != nil {
		if !a.Multi {
			return badRequest(errInvalidPath, "%s is not multi-valued: a filter does not apply", a.Name)
		}
		return p.filtered(kind, m, a, fp.ValueExpression, after, value)
	}
	if r.sub != nil {
		return p.subAttr(kind, m, a, r.sub, value)
	}
	return p.whole(kind, m, a, value)
}

// simplePath matches paths without a value filter: active, name.givenName, and the same
// prefixed with a schema URN. They are most of what clients send, and the general parser
// costs more than the rest of a PATCH.
var simplePath = regexp.MustCompile(`^(?:(urn:[A-Za-z0-9:._-]+):)?([A-Za-z$][A-Za-z0-9_$-]*)(?:\.([A-Za-z$][A-Za-z0-9_$-]*))?$`)

func parsePath(path string) (filter.Path, error) {
	m := simplePath.FindStringSubmatch(path)
	if m == nil {
		return filter.ParsePath([]byte(path))
	}
	var fp filter.Path
	if m[1] != "" {
		uri := m[1]
		fp.AttributePath.URIPrefix = &uri
	}
	fp.AttributePath.AttributeName = m[2]
	if m[3] != "" {
		sub := m[3]
		fp.AttributePath.SubAttribute = &sub
	}
	return fp, nil
}

func unwrapOne(v any) any {
	if list, ok := v.([]any); ok && len(list) == 1 {
		return list[0]
	}
	return v
}

// whole applies an operation to a whole attribute.
func (p *patcher) whole(kind string, m map[string]any, a *attr, value any) *Error {
	if kind == "remove" {
		if a.Required {
			return badRequest(errMutability, "%s is required and cannot be removed", a.Name)
		}
		delete(m, a.Name)
		return nil
	}
	val, err := coerce(a, value, a.Name)
	if err != nil {
		return err
	}
	switch {
	case a.Multi && kind == "add":
		list, _ := m[a.Name].([]any)
		added, _ := val.([]any)
		for _, v := range added {
			if !containsValue(list, v) {
				list = append(list, v)
			}
		}
		setOrDelete(m, a.Name, preferPrimary(list, added))
	case a.Type == typeComplex && !a.Multi:
		// RFC 7644 §3.5.2.1 and .3: sub-attributes not given are left unchanged.
		cur, _ := m[a.Name].(map[string]any)
		if cur == nil {
			cur = map[string]any{}
		}
		if nv, ok := val.(map[string]any); ok {
			for k, v := range nv {
				cur[k] = v
			}
		}
		setOrDelete(m, a.Name, any(cur))
	default:
		if a.Required && isEmpty(val) {
			return badRequest(errInvalidValue, "%s is required", a.Name)
		}
		setOrDelete(m, a.Name, val)
	}
	return nil
}

// subAttr applies an operation to a sub-attribute (name.givenName, manager.value, or
// emails.value, which means that sub-attribute of every element).
func (p *patcher) subAttr(kind string, m map[string]any, a, sub *attr, value any) *Error {
	var val any
	if kind != "remove" {
		var err *Error
		if val, err = coerceSingle(sub, unwrapOne(value), a.Name+"."+sub.Name); err != nil {
			return err
		}
	}
	if !a.Multi {
		parent, _ := m[a.Name].(map[string]any)
		if parent == nil {
			parent = map[string]any{}
		}
		setOrDelete(parent, sub.Name, val)
		setOrDelete(m, a.Name, any(parent))
		return nil
	}
	list, _ := m[a.Name].([]any)
	if len(list) == 0 && kind == "add" {
		list = []any{map[string]any{}}
	}
	for _, e := range list {
		if obj, ok := e.(map[string]any); ok {
			setOrDelete(obj, sub.Name, val)
		}
	}
	setOrDelete(m, a.Name, dropEmpty(list))
	return nil
}

// filtered applies an operation to the elements of a multi-valued attribute that a value
// filter selects (emails[type eq "work"], optionally followed by .value).
func (p *patcher) filtered(kind string, m map[string]any, a *attr, expr filter.Expression, after *attr, value any) *Error {
	list, _ := m[a.Name].([]any)
	var hits []int
	for i, e := range list {
		ok, err := matchValue(expr, a, e)
		if err != nil {
			return err
		}
		if ok {
			hits = append(hits, i)
		}
	}
	if len(hits) == 0 && kind != "add" {
		return &Error{Status: 400, ScimType: errNoTarget, Detail: "no value of " + a.Name + " matches the filter in the path"}
	}
	var val any
	if kind != "remove" {
		var err *Error
		if after != nil {
			val, err = coerceSingle(after, unwrapOne(value), a.Name+"."+after.Name)
		} else {
			val, err = coerceSingle(a, unwrapOne(value), a.Name)
		}
		if err != nil {
			return err
		}
	}
	var touched []any
	switch {
	case kind == "remove" && after == nil:
		keep := list[:0:0]
		for i, e := range list {
			if !containsInt(hits, i) {
				keep = append(keep, e)
			}
		}
		list = keep
	case len(hits) == 0: // add to an element that does not exist yet: make it from the filter
		elem := map[string]any{}
		eqs := map[string]any{}
		equalities(expr, eqs)
		for k, v := range eqs {
			if s := a.sub(k); s != nil {
				if c, err := coerceSingle(s, v, a.Name+"."+s.Name); err == nil {
					setOrDelete(elem, s.Name, c)
				}
			}
		}
		if after != nil {
			setOrDelete(elem, after.Name, val)
		} else if obj, ok := val.(map[string]any); ok {
			for k, v := range obj {
				elem[k] = v
			}
		}
		list = append(list, any(elem))
		touched = append(touched, any(elem))
	default:
		for _, i := range hits {
			obj, _ := list[i].(map[string]any)
			if obj == nil {
				obj = map[string]any{}
			}
			switch {
			case after != nil:
				setOrDelete(obj, after.Name, val)
			case kind == "replace":
				obj, _ = val.(map[string]any)
			default: // add: merge
				if nv, ok := val.(map[string]any); ok {
					for k, v := range nv {
						obj[k] = v
					}
				}
			}
			list[i] = obj
			touched = append(touched, any(obj))
		}
	}
	setOrDelete(m, a.Name, preferPrimary(dropEmpty(list), touched))
	return nil
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
			delete(obj, "primary")
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

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// containsValue compares by value: adding an email that is already there is a no-op.
func containsValue(list []any, v any) bool {
	for _, e := range list {
		if reflect.DeepEqual(e, v) {
			return true
		}
	}
	return false
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

// members applies an operation on a group's members, in the database.
func (p *patcher) members(kind string, fp filter.Path, value any) *Error {
	if fp.SubAttribute != nil && !strings.EqualFold(*fp.SubAttribute, "value") {
		return badRequest(errInvalidPath, "members.%s cannot be changed", *fp.SubAttribute)
	}
	if fp.ValueExpression != nil {
		if kind != "remove" {
			// replace members[value eq "x"] with another member: remove the match, add the value.
			if err := p.removeMatching(fp.ValueExpression); err != nil {
				return err
			}
			return p.addMembers(value)
		}
		return p.removeMatching(fp.ValueExpression)
	}
	switch kind {
	case "add":
		return p.addMembers(value)
	case "replace":
		p.membersChanged = true
		if err := p.tx.ClearMembers(p.ctx, p.groupSeq); err != nil {
			return storeErr(err)
		}
		return p.addMembers(value)
	default: // remove
		if value == nil {
			p.membersChanged = true
			return storeErr(p.tx.ClearMembers(p.ctx, p.groupSeq))
		}
		ids, err := memberIDs(value)
		if err != nil {
			return err
		}
		// Entra ID removes members with a value list; removing one who is already gone is
		// not an error there (unlike a filtered path that matches nothing), since Entra
		// would otherwise retry forever.
		n, rerr := p.tx.RemoveMembers(p.ctx, p.groupSeq, ids)
		if rerr != nil {
			return storeErr(rerr)
		}
		p.membersChanged = p.membersChanged || n > 0
		return nil
	}
}

func (p *patcher) addMembers(value any) *Error {
	ids, err := memberIDs(value)
	if err != nil {
		return err
	}
	n, aerr := p.tx.AddMembersN(p.ctx, p.groupSeq, ids)
	p.membersChanged = p.membersChanged || n > 0
	return storeErr(aerr)
}

// removeMatching removes the members a value filter selects. The common form,
// members[value eq "id"], needs no read of the member list.
func (p *patcher) removeMatching(expr filter.Expression) *Error {
	var ids []string
	if x, ok := expr.(*filter.AttributeExpression); ok && strings.EqualFold(string(x.Operator), "eq") &&
		strings.EqualFold(x.AttributePath.AttributeName, "value") && x.AttributePath.SubAttribute == nil {
		id, _ := x.CompareValue.(string)
		ids = []string{id}
	} else {
		members, err := p.tx.MembersOfGroups(p.ctx, []int64{p.groupSeq})
		if err != nil {
			return storeErr(err)
		}
		a := groupSchema.attr("members")
		for _, m := range members[p.groupSeq] {
			ok, merr := matchValue(expr, a, map[string]any{"value": m.UserID, "display": m.Display, "type": "User"})
			if merr != nil {
				return merr
			}
			if ok {
				ids = append(ids, m.UserID)
			}
		}
	}
	n, err := p.tx.RemoveMembers(p.ctx, p.groupSeq, ids)
	if err != nil {
		return storeErr(err)
	}
	p.membersChanged = p.membersChanged || n > 0
	if n == 0 {
		return badRequest(errNoTarget, "no member matches the filter in the path")
	}
	return nil
}

// decodePatch reads and checks a PatchOp body.
func decodePatch(body []byte) (patchRequest, *Error) {
	var req patchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return req, badRequest(errInvalidSyntax, "the body is not a valid PatchOp message: %s", jsonProblem(err))
	}
	if len(req.Operations) == 0 {
		return req, badRequest(errInvalidValue, "a PatchOp message needs at least one operation in \"Operations\"")
	}
	if len(req.Operations) > maxPatchOps {
		return req, badRequest(errTooMany, "at most %d operations per request", maxPatchOps)
	}
	return req, nil
}
