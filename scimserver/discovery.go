package scimserver

import (
	"net/http"
	"strings"
)

// The discovery documents (RFC 7644 §4) describe exactly what this server does. They are
// built from the same schema tables the normaliser uses, so they cannot drift from it.

func (s *Server) serviceProviderConfig(w http.ResponseWriter, r *http.Request, c *call) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":        []string{URNSPConfig},
		"patch":          map[string]any{"supported": true},
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":         map[string]any{"supported": true, "maxResults": MaxResults},
		"changePassword": map[string]any{"supported": false},
		"sort":           map[string]any{"supported": true},
		"etag":           map[string]any{"supported": true},
		"authenticationSchemes": []map[string]any{{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "A SCIM token created in the scimdesk console, sent as Authorization: Bearer <token>.",
			"primary":     true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     s.base(r) + "/ServiceProviderConfig",
		},
	})
}

type resourceTypeDef struct {
	name, endpoint, desc, schema string
	extensions                   []string
}

var resourceTypeDefs = []resourceTypeDef{
	{"User", "/Users", "User Account", URNUser, []string{URNEnterprise}},
	{"Group", "/Groups", "Group", URNGroup, nil},
}

func (d resourceTypeDef) doc(base string) map[string]any {
	m := map[string]any{
		"schemas":     []string{URNResourceType},
		"id":          d.name,
		"name":        d.name,
		"endpoint":    d.endpoint,
		"description": d.desc,
		"schema":      d.schema,
		"meta":        map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/" + d.name},
	}
	if len(d.extensions) > 0 {
		var ext []map[string]any
		for _, e := range d.extensions {
			ext = append(ext, map[string]any{"schema": e, "required": false})
		}
		m["schemaExtensions"] = ext
	}
	return m
}

func (s *Server) resourceTypes(w http.ResponseWriter, r *http.Request, c *call) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	base := s.base(r)
	var list []any
	for _, d := range resourceTypeDefs {
		list = append(list, d.doc(base))
	}
	writeListAny(w, list)
}

func (s *Server) resourceType(w http.ResponseWriter, r *http.Request, c *call) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	name := r.PathValue("name")
	for _, d := range resourceTypeDefs {
		if strings.EqualFold(d.name, name) {
			writeJSON(w, http.StatusOK, d.doc(s.base(r)))
			return
		}
	}
	writeError(w, notFound("no resource type %q", truncate(name, 100)))
}

var allSchemas = []*schema{userSchema, enterpriseSchema, groupSchema}

func (sc *schema) doc(base string) map[string]any {
	attrs := make([]any, 0, len(sc.Attrs))
	for _, a := range sc.Attrs {
		attrs = append(attrs, a.doc())
	}
	return map[string]any{
		"schemas":     []string{URNSchema},
		"id":          sc.ID,
		"name":        sc.Name,
		"description": sc.Description,
		"attributes":  attrs,
		"meta":        map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + sc.ID},
	}
}

func (a *attr) doc() map[string]any {
	m := map[string]any{
		"name":        a.Name,
		"type":        a.Type,
		"multiValued": a.Multi,
		"description": a.Description,
		"required":    a.Required,
		"caseExact":   a.CaseExact,
		"mutability":  a.Mutability,
		"returned":    a.Returned,
		"uniqueness":  a.Uniqueness,
	}
	if len(a.Canonical) > 0 {
		m["canonicalValues"] = a.Canonical
	}
	if len(a.RefTypes) > 0 {
		m["referenceTypes"] = a.RefTypes
	}
	if len(a.Sub) > 0 {
		subs := make([]any, 0, len(a.Sub))
		for _, s := range a.Sub {
			subs = append(subs, s.doc())
		}
		m["subAttributes"] = subs
	}
	return m
}

func (s *Server) schemas(w http.ResponseWriter, r *http.Request, c *call) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	base := s.base(r)
	var list []any
	for _, sc := range allSchemas {
		list = append(list, sc.doc(base))
	}
	writeListAny(w, list)
}

func (s *Server) schemaByURN(w http.ResponseWriter, r *http.Request, c *call) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	urn := r.PathValue("urn")
	for _, sc := range allSchemas {
		if strings.EqualFold(sc.ID, urn) {
			writeJSON(w, http.StatusOK, sc.doc(s.base(r)))
			return
		}
	}
	writeError(w, notFound("no schema %q", truncate(urn, 200)))
}

func writeListAny(w http.ResponseWriter, list []any) {
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{URNListResponse},
		"totalResults": len(list),
		"startIndex":   1,
		"itemsPerPage": len(list),
		"Resources":    list,
	})
}
