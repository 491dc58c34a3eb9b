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

// projection is the attributes / excludedAttributes of a request (RFC 7644 §3.9).
type projection struct {
	include []string
	exclude []string
}

func parseProjection(attributes, excluded string) projection {
	return projection{include: splitList(attributes), exclude: splitList(excluded)}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
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
	var out map[string]any
	if len(p.include) > 0 {
		out = map[string]any{"schemas": full["schemas"], "id": full["id"]}
		for _, name := range p.include {
			copyPath(n, full, out, name)
		}
	} else {
		out = full
		for _, name := range p.exclude {
			removePath(n, out, name)
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

func copyPath(n normalizer, from, to map[string]any, name string) {
	ext, a, sub, ok := locate(n, name)
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

func removePath(n normalizer, m map[string]any, name string) {
	ext, a, sub, ok := locate(n, name)
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
