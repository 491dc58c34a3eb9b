package scimserver

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"scimdesk/db"
)

// etag is a resource's weak ETag: its version counter.
func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// splice writes a resource as JSON without decoding its stored doc: the doc's members are
// copied between the ones the server adds (schemas and id before, read-only attributes and
// meta after). The doc is JSON the server itself wrote, so this is safe and saves a decode
// and an encode on every read.
func splice(buf *bytes.Buffer, schemas []string, id string, docJSON []byte, tail func(*bytes.Buffer)) {
	buf.WriteString(`{"schemas":[`)
	for i, sc := range schemas {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeString(buf, sc)
	}
	buf.WriteString(`],"id":`)
	writeString(buf, id)
	inner := bytes.TrimSpace(docJSON)
	if len(inner) > 2 {
		buf.WriteByte(',')
		buf.Write(inner[1 : len(inner)-1])
	}
	tail(buf)
	buf.WriteByte('}')
}

// writeString writes s as a JSON string. Most values (ids, names, URLs) need no escaping,
// and copying them straight saves an allocation per value on every list page.
func writeString(buf *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			b, _ := json.Marshal(s)
			buf.Write(b)
			return
		}
	}
	buf.WriteByte('"')
	buf.WriteString(s)
	buf.WriteByte('"')
}

func writeMeta(buf *bytes.Buffer, resourceType, location string, created, modified string, version int64) {
	buf.WriteString(`,"meta":{"resourceType":`)
	writeString(buf, resourceType)
	buf.WriteString(`,"created":"` + created + `","lastModified":"` + modified + `","location":`)
	writeString(buf, location)
	buf.WriteString(`,"version":`)
	writeString(buf, etag(version))
	buf.WriteByte('}')
}

var enterpriseKey = []byte(`"` + URNEnterprise + `":{`)

// renderUser writes a user resource.
func renderUser(buf *bytes.Buffer, base string, u *db.User) {
	schemas := []string{URNUser}
	if bytes.Contains(u.Doc, enterpriseKey) {
		schemas = append(schemas, URNEnterprise)
	}
	splice(buf, schemas, u.ID, u.Doc, func(buf *bytes.Buffer) {
		if len(u.Groups) > 0 {
			buf.WriteString(`,"groups":[`)
			for i, g := range u.Groups {
				if i > 0 {
					buf.WriteByte(',')
				}
				buf.WriteString(`{"value":`)
				writeString(buf, g.ID)
				buf.WriteString(`,"$ref":`)
				writeString(buf, base+"/Groups/"+g.ID)
				buf.WriteString(`,"display":`)
				writeString(buf, g.DisplayName)
				buf.WriteString(`,"type":"direct"}`)
			}
			buf.WriteByte(']')
		}
		writeMeta(buf, "User", base+"/Users/"+u.ID, isoTime(u.Created), isoTime(u.Modified), u.Version)
	})
}

// renderGroup writes a group resource; members nil leaves the attribute out (it was
// excluded, and so not loaded).
func renderGroup(buf *bytes.Buffer, base string, g *db.Group, members []db.Member, withMembers bool) {
	splice(buf, []string{URNGroup}, g.ID, g.Doc, func(buf *bytes.Buffer) {
		buf.WriteString(`,"displayName":`)
		writeString(buf, g.DisplayName)
		if withMembers && len(members) > 0 {
			buf.WriteString(`,"members":[`)
			for i, m := range members {
				if i > 0 {
					buf.WriteByte(',')
				}
				buf.WriteString(`{"value":`)
				writeString(buf, m.UserID)
				buf.WriteString(`,"$ref":`)
				writeString(buf, base+"/Users/"+m.UserID)
				buf.WriteString(`,"display":`)
				writeString(buf, m.Display)
				buf.WriteString(`,"type":"User"}`)
			}
			buf.WriteByte(']')
		}
		writeMeta(buf, "Group", base+"/Groups/"+g.ID, isoTime(g.Created), isoTime(g.Modified), g.Version)
	})
}

// projection is the attributes / excludedAttributes of a request (RFC 7644 §3.9), parsed
// once per request: the names are split, checked and, per resource type, resolved once
// (see locs), not once per resource of a list page.
type projection struct {
	include []string
	exclude []string
	cache   *projCache
}

// projCache holds the names resolved for each normalizer a request renders with.
type projCache struct {
	core    *schema
	include []location
	exclude []location
}

// location is where a name from attributes / excludedAttributes is in a rendered
// resource (see locate).
type location struct {
	ext, attr, sub string
	ok             bool
}

// maxProjectionNames bounds attributes and excludedAttributes: each name costs work on
// every resource of a page, and no resource type has more attributes than this.
const maxProjectionNames = 100

// parseProjection parses the attributes and excludedAttributes query parameters.
func parseProjection(attributes, excluded string) (projection, *Error) {
	return newProjection(splitList(attributes), splitList(excluded))
}

// newProjection checks the names of a projection and makes it.
func newProjection(include, exclude []string) (projection, *Error) {
	if len(include) > maxProjectionNames || len(exclude) > maxProjectionNames {
		return projection{}, badRequest(errInvalidValue, "at most %d names in attributes and in excludedAttributes", maxProjectionNames)
	}
	p := projection{cache: &projCache{}}
	for _, n := range include {
		if n = projectionName(n); n != "" {
			p.include = append(p.include, n)
		}
	}
	for _, n := range exclude {
		if n = projectionName(n); n != "" {
			p.exclude = append(p.exclude, n)
		}
	}
	return p, nil
}

// projectionName reads a value filter in a name as its attribute: RFC 7644 §3.9 takes
// attribute names only, but clients send emails[type eq "work"] (and .value after it),
// and other servers answer with the attribute, so that is what a client means.
func projectionName(name string) string {
	name = strings.TrimSpace(name)
	open := strings.IndexByte(name, '[')
	if open < 0 {
		return name
	}
	end := strings.LastIndexByte(name, ']')
	if end < open {
		return strings.TrimSpace(name[:open])
	}
	return strings.TrimSpace(name[:open]) + name[end+1:]
}

// splitList splits a comma-separated list of names; a comma inside a value filter
// (emails[value eq "a,b"]) does not split.
func splitList(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch c := s[i]; {
			case quoted && c == '\\':
				i++
				continue
			case c == '"':
				quoted = !quoted
				continue
			case quoted:
				continue
			case c == '[':
				depth++
				continue
			case c == ']':
				depth--
				continue
			case c != ',' || depth > 0:
				continue
			}
		}
		if p := strings.TrimSpace(s[start:min(i, len(s))]); p != "" {
			out = append(out, p)
		}
		start = i + 1
	}
	return out
}

// locs resolves the names for normalizer n, once per request and resource type.
func (p projection) locs(n normalizer) (include, exclude []location) {
	c := p.cache
	if c == nil {
		c = &projCache{}
	}
	if c.core != n.core {
		c.core = n.core
		c.include, c.exclude = c.include[:0], c.exclude[:0]
		for _, name := range p.include {
			c.include = append(c.include, locateName(n, name))
		}
		for _, name := range p.exclude {
			c.exclude = append(c.exclude, locateName(n, name))
		}
	}
	return c.include, c.exclude
}

func locateName(n normalizer, name string) location {
	ext, a, sub, ok := locate(n, name)
	return location{ext: ext, attr: a, sub: sub, ok: ok}
}

func (p projection) empty() bool { return len(p.include) == 0 && len(p.exclude) == 0 }

// excludes reports whether attribute name (a top-level attribute) is left out, so that the
// caller can avoid loading it (group members).
func (p projection) excludes(name string) bool {
	for _, e := range p.exclude {
		if strings.EqualFold(e, name) || strings.EqualFold(e, URNGroup+":"+name) {
			return true
		}
	}
	if len(p.include) == 0 {
		return false
	}
	for _, i := range p.include {
		top, _, _ := strings.Cut(strings.TrimPrefix(strings.ToLower(i), strings.ToLower(URNGroup)+":"), ".")
		if strings.EqualFold(top, name) {
			return false
		}
	}
	return true
}

// apply filters a rendered resource. It decodes and re-encodes, so it runs only when a
// client asked for a projection.
func (p projection) apply(n normalizer, resource []byte) []byte {
	if p.empty() {
		return resource
	}
	var full map[string]any
	if err := json.Unmarshal(resource, &full); err != nil {
		return resource
	}
	include, exclude := p.locs(n)
	var out map[string]any
	if len(include) > 0 {
		out = map[string]any{"schemas": full["schemas"], "id": full["id"]}
		for _, l := range include {
			copyPath(full, out, l)
		}
	} else {
		out = full
		for _, l := range exclude {
			removePath(out, l)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return resource
	}
	return b
}

// locate turns an attribute name from a query into (container key, attribute, sub) in a
// rendered resource: the container key is "" for core attributes or the extension URN.
func locate(n normalizer, name string) (ext, attrName, sub string, ok bool) {
	lower := strings.ToLower(name)
	for _, special := range []string{"meta", "externalid", "id", "schemas"} {
		if lower == special || strings.HasPrefix(lower, special+".") {
			top, s, _ := strings.Cut(name, ".")
			canon := map[string]string{"meta": "meta", "externalid": attrExternalID, "id": "id", "schemas": "schemas"}[strings.ToLower(top)]
			return "", canon, s, true
		}
	}
	if e := n.extension(name); e != nil {
		return e.ID, "", "", true
	}
	r, found := n.resolve(name)
	if !found {
		return "", "", "", false
	}
	if r.externalID {
		return "", attrExternalID, "", true
	}
	if r.ext != nil {
		ext = r.ext.ID
	}
	if r.sub != nil {
		sub = r.sub.Name
	}
	return ext, r.attr.Name, sub, true
}

func copyPath(from, to map[string]any, l location) {
	ext, a, sub, ok := l.ext, l.attr, l.sub, l.ok
	if !ok {
		return
	}
	src, dst := from, to
	if ext != "" {
		s, _ := from[ext].(map[string]any)
		if s == nil {
			return
		}
		if a == "" { // the whole extension
			to[ext] = s
			return
		}
		d, _ := to[ext].(map[string]any)
		if d == nil {
			d = map[string]any{}
			to[ext] = d
		}
		src, dst = s, d
	}
	v, present := src[a]
	if !present {
		return
	}
	if sub == "" {
		dst[a] = v
		return
	}
	switch x := v.(type) {
	case map[string]any:
		d, _ := dst[a].(map[string]any)
		if d == nil {
			d = map[string]any{}
		}
		if sv, ok := lookupFold(x, sub); ok {
			d[sub] = sv
		}
		dst[a] = d
	case []any:
		var list []any
		for _, e := range x {
			if obj, ok := e.(map[string]any); ok {
				if sv, ok := lookupFold(obj, sub); ok {
					list = append(list, map[string]any{sub: sv})
				}
			}
		}
		if list != nil {
			dst[a] = list
		}
	}
}

func removePath(m map[string]any, l location) {
	ext, a, sub, ok := l.ext, l.attr, l.sub, l.ok
	if !ok || a == "id" || a == "schemas" {
		return // id and schemas are always returned
	}
	target := m
	if ext != "" {
		if a == "" {
			delete(m, ext)
			return
		}
		target, _ = m[ext].(map[string]any)
		if target == nil {
			return
		}
	}
	if sub == "" {
		delete(target, a)
		return
	}
	switch x := target[a].(type) {
	case map[string]any:
		delete(x, sub)
	case []any:
		for _, e := range x {
			if obj, ok := e.(map[string]any); ok {
				delete(obj, sub)
			}
		}
	}
}

func lookupFold(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}
