package scimserver

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// doc is a resource's attributes as stored: canonical attribute names (as the schema spells
// them), extension attributes under their schema URN, no nulls, no empty values, and no id,
// meta, schemas, groups or password.
type doc = map[string]any

// normalizer turns what a client sent into a doc, liberally: names are matched without
// regard to case, attributes we don't know are ignored, booleans may come as strings
// (Microsoft Entra ID sends "True"), a single value is accepted where a list is expected.
type normalizer struct {
	core *schema
	ext  []*schema // extensions the resource type allows
}

var userNormalizer = normalizer{core: userSchema, ext: []*schema{enterpriseSchema}}
var groupNormalizer = normalizer{core: groupSchema}

// common attributes (RFC 7643 §3.1) that are not in a schema's attribute list.
const attrExternalID = "externalId"

// resolved is where an attribute name points: a top-level attribute of the core schema or
// of an extension, possibly with a sub-attribute.
type resolved struct {
	ext  *schema // nil for the core schema
	attr *attr
	sub  *attr // nil unless the name had a sub-attribute
	// externalID is set for the common attribute externalId, which has no schema entry.
	externalID bool
}

// resolve finds the attribute a (possibly URN-qualified, possibly dotted) name refers to;
// ok is false for names we do not know.
func (n normalizer) resolve(name string) (resolved, bool) {
	lname := strings.ToLower(name)
	s := n.core
	var ext *schema
	if p := strings.ToLower(n.core.ID) + ":"; strings.HasPrefix(lname, p) {
		name = name[len(p):]
	} else {
		for _, e := range n.ext {
			if p := strings.ToLower(e.ID) + ":"; strings.HasPrefix(lname, p) {
				name, s, ext = name[len(p):], e, e
				break
			}
		}
	}
	if ext == nil && strings.EqualFold(name, attrExternalID) {
		return resolved{externalID: true}, true
	}
	attrName, subName, dotted := strings.Cut(name, ".")
	a := s.attr(attrName)
	if a == nil {
		return resolved{}, false
	}
	r := resolved{ext: ext, attr: a}
	if dotted {
		if r.sub = a.sub(subName); r.sub == nil {
			return resolved{}, false
		}
	}
	return r, true
}

// extension returns the extension schema whose URN is name, if any.
func (n normalizer) extension(name string) *schema {
	for _, e := range n.ext {
		if strings.EqualFold(e.ID, name) {
			return e
		}
	}
	return nil
}

// normalize builds a doc from a client's JSON object (POST and PUT bodies).
func (n normalizer) normalize(in map[string]any) (doc, *Error) {
	if err := checkDupKeys(in, "the resource"); err != nil {
		return nil, err
	}
	out := doc{}
	for k, v := range in {
		if err := n.set(out, k, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// set assigns one client-supplied attribute (name as the client wrote it) into d,
// replacing what was there. Unknown and read-only attributes are ignored.
func (n normalizer) set(d doc, name string, v any) *Error {
	switch strings.ToLower(name) {
	case "schemas", "id", "meta":
		return nil
	}
	if e := n.extension(name); e != nil {
		obj, ok := v.(map[string]any)
		if v == nil {
			delete(d, e.ID)
			return nil
		}
		if !ok {
			return badRequest(errInvalidValue, "%s must be an object", e.ID)
		}
		if err := checkDupKeys(obj, e.ID); err != nil {
			return err
		}
		for k, sv := range obj {
			if err := n.set(d, e.ID+":"+k, sv); err != nil {
				return err
			}
		}
		return nil
	}
	r, ok := n.resolve(name)
	if !ok {
		return nil
	}
	if r.externalID {
		s, err := coerceString(attrExternalID, v)
		if err != nil {
			return err
		}
		setOrDelete(d, attrExternalID, s)
		return nil
	}
	if r.attr.Mutability == "readOnly" || r.attr.Mutability == "writeOnly" {
		return nil
	}
	target := d
	if r.ext != nil {
		sub, _ := d[r.ext.ID].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
		}
		d[r.ext.ID] = sub
		target = sub
		defer func() {
			if len(sub) == 0 {
				delete(d, r.ext.ID)
			}
		}()
	}
	if r.sub != nil {
		if r.attr.Multi {
			return badRequest(errInvalidPath, "%s is multi-valued: use a filter such as %s[type eq \"work\"].%s", r.attr.Name, r.attr.Name, r.sub.Name)
		}
		parent, _ := target[r.attr.Name].(map[string]any)
		if parent == nil {
			parent = map[string]any{}
		}
		val, err := coerce(r.sub, v, r.attr.Name+"."+r.sub.Name)
		if err != nil {
			return err
		}
		setOrDelete(parent, r.sub.Name, val)
		setOrDelete(target, r.attr.Name, any(parent))
		return nil
	}
	val, err := coerce(r.attr, v, r.attr.Name)
	if err != nil {
		return err
	}
	setOrDelete(target, r.attr.Name, val)
	return nil
}

// setOrDelete stores v, or removes the key when v is empty: a doc holds no nulls, empty
// strings, empty lists or empty objects, so "absent" has one representation.
func setOrDelete(m map[string]any, k string, v any) {
	if isEmpty(v) {
		delete(m, k)
		return
	}
	m[k] = v
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// coerce checks and converts a value for attribute a; path names it in errors.
func coerce(a *attr, v any, path string) (any, *Error) {
	if v == nil {
		return nil, nil
	}
	if a.Multi {
		list, ok := v.([]any)
		if !ok {
			list = []any{v} // one value where a list is expected
		}
		if len(list) > maxValues && a.Name != "members" { // groups may be large
			return nil, badRequest(errInvalidValue, "%s has more than %d values", path, maxValues)
		}
		out := make([]any, 0, len(list))
		for _, item := range list {
			c, err := coerceSingle(a, item, path)
			if err != nil {
				return nil, err
			}
			if !isEmpty(c) {
				out = append(out, c)
			}
		}
		if a.Type == typeComplex {
			onePrimary(out)
			out = mergeDuplicates(a, out)
		}
		return out, nil
	}
	if list, ok := v.([]any); ok && len(list) == 1 {
		v = list[0] // a one-element list where a single value is expected
	}
	return coerceSingle(a, v, path)
}

// maxValues bounds a multi-valued attribute (emails, phoneNumbers, ...) of a user.
const maxValues = 100

// onePrimary keeps at most one primary value (RFC 7643 §2.4): when several claim it, the
// last one wins, which is also what a PATCH that adds a new primary value needs.
func onePrimary(list []any) {
	seen := false
	for i := len(list) - 1; i >= 0; i-- {
		m, ok := list[i].(map[string]any)
		if !ok {
			continue
		}
		if p, _ := m["primary"].(bool); p {
			if seen {
				m["primary"] = false
			}
			seen = true
		}
	}
}

func coerceSingle(a *attr, v any, path string) (any, *Error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case typeComplex:
		obj, ok := v.(map[string]any)
		if !ok {
			// Entra ID sends the enterprise manager as a bare id string; that one shape is
			// read as {"value": id}. Any other non-object is a client error.
			if _, isString := v.(string); !isString || a.Name != "manager" {
				return nil, badRequest(errInvalidValue, "%s must be an object", path)
			}
			obj = map[string]any{"value": v}
		}
		if err := checkDupKeys(obj, path); err != nil {
			return nil, err
		}
		out := map[string]any{}
		for k, sv := range obj {
			s := a.sub(k)
			if s == nil || s.Mutability == "readOnly" {
				continue
			}
			c, err := coerceSingle(s, sv, path+"."+s.Name)
			if err != nil {
				return nil, err
			}
			setOrDelete(out, s.Name, c)
		}
		return out, nil
	case typeBoolean:
		return coerceBool(path, v)
	case typeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, badRequest(errInvalidValue, "%s must be a dateTime string", path)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, badRequest(errInvalidValue, "%s is not a valid dateTime (RFC 3339)", path)
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	case typeInteger, typeDecimal:
		f, ok := v.(float64)
		if !ok {
			return nil, badRequest(errInvalidValue, "%s must be a number", path)
		}
		if a.Type == typeInteger && f != math.Trunc(f) {
			return nil, badRequest(errInvalidValue, "%s must be an integer", path)
		}
		return f, nil
	default:
		return coerceString(path, v)
	}
}

func coerceBool(path string, v any) (any, *Error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
			return b, nil
		}
	}
	return nil, badRequest(errInvalidValue, "%s must be a boolean", path)
}

// maxStringLen bounds one string attribute. Real names, addresses and ids are far
// shorter; a megabyte displayName would only make every list unreadable.
const maxStringLen = 2048

// coerceString accepts strings only: a number where a string belongs is a client error
// (RFC 7644 invalidValue), not something to guess about.
func coerceString(path string, v any) (string, *Error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		if len(x) > maxStringLen {
			return "", badRequest(errInvalidValue, "%s is longer than %d bytes", path, maxStringLen)
		}
		return x, nil
	}
	return "", badRequest(errInvalidValue, "%s must be a string", path)
}

// checkDupKeys refuses an object with two keys that differ only in case: attribute names
// are case-insensitive (RFC 7643 §2.1), so {"userName":"a","USERNAME":"b"} names one
// attribute twice, and keeping either value would be a guess (Go's map order, at that).
func checkDupKeys(obj map[string]any, where string) *Error {
	if len(obj) < 2 {
		return nil
	}
	seen := make(map[string]struct{}, len(obj))
	for k := range obj {
		lk := strings.ToLower(k)
		if _, dup := seen[lk]; dup {
			return badRequest(errInvalidSyntax, "%s names the attribute %q more than once (names are case-insensitive)", truncate(where, 100), truncate(k, 64))
		}
		seen[lk] = struct{}{}
	}
	return nil
}

// mergeDuplicates merges the elements of a multi-valued complex attribute that have the
// same type and value (case-insensitively where the value is not caseExact): RFC 7643 §2.4
// says a client SHOULD NOT send them, and Okta and Entra do when a profile maps one
// address twice. Merging keeps the first one's place and takes the later ones'
// sub-attributes (a later "primary" wins), which is what storing both and reading the
// last would show; refusing would fail a real client over something harmless. Elements
// without a value (addresses) are compared whole. One pass with a map, so a request cannot
// make it quadratic.
func mergeDuplicates(a *attr, list []any) []any {
	if len(list) < 2 {
		return list
	}
	valueSub := a.sub("value")
	typeSub := a.sub("type")
	seen := make(map[string]map[string]any, len(list))
	out := list[:0]
	for _, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			out = append(out, e)
			continue
		}
		var key string
		if valueSub != nil {
			v, _ := obj[valueSub.Name].(string)
			t := ""
			if typeSub != nil {
				t, _ = obj[typeSub.Name].(string)
			}
			if !valueSub.CaseExact {
				v = strings.ToLower(v)
			}
			key = strings.ToLower(t) + "\x00" + v
		} else {
			b, _ := json.Marshal(obj)
			key = string(b)
		}
		if first, dup := seen[key]; dup {
			for k, v := range obj {
				first[k] = v
			}
			continue
		}
		seen[key] = obj
		out = append(out, e)
	}
	for i := len(out); i < len(list); i++ {
		list[i] = nil
	}
	return out
}

// maxDocBytes bounds a resource's stored document. Real users are a few hundred bytes to
// a few kilobytes; the bound keeps every later read, list page and PATCH of a resource
// cheap, whatever sequence of requests built it.
const maxDocBytes = 128 << 10
