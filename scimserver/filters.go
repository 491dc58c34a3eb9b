package scimserver

import (
	"strings"

	"scimdesk/scimserver/filtersql"
)

// What filters may name, and how each attribute maps to SQL. Anything not listed is
// refused with invalidFilter, never ignored. The mapping is the same on both database
// engines; only the JSON functions that read attributes kept in the user's document are
// spelled differently (jsonSQL).
func newUserFilterSchema(j jsonSQL) *filtersql.Schema {
	s := &filtersql.Schema{URN: URNUser, Postgres: j.pg, Attrs: map[string]filtersql.Column{
		"id":                {Expr: "u.id", Kind: filtersql.String, CaseExact: true},
		"externalid":        {Expr: "u.external_id", Kind: filtersql.String, CaseExact: true},
		"username":          {Expr: "u.user_name_norm", Kind: filtersql.String, Folded: true},
		"displayname":       {Expr: "u.display_name", Kind: filtersql.String},
		"name.givenname":    {Expr: "u.given_name", Kind: filtersql.String},
		"name.familyname":   {Expr: "u.family_name", Kind: filtersql.String},
		"active":            {Expr: "u.active", Kind: filtersql.Boolean},
		"meta.created":      {Expr: "u.created_at", Kind: filtersql.DateTime, MillisTime: true},
		"meta.lastmodified": {Expr: "u.modified_at", Kind: filtersql.DateTime, MillisTime: true},
	}, Multis: map[string]filtersql.Multi{
		"emails":       j.multi("u.doc", "emails", "value", "type", "display", "primary"),
		"phonenumbers": j.multi("u.doc", "phoneNumbers", "value", "type", "display", "primary"),
		"groups": {From: "group_members gm JOIN groups gg ON gg.seq = gm.group_seq", Where: "gm.user_seq = u.seq",
			Default: "value", Sub: map[string]filtersql.Column{
				"value":   {Expr: "gg.id", Kind: filtersql.String, CaseExact: true},
				"display": {Expr: "gg.display_name", Kind: filtersql.String},
			}},
	}}
	for _, name := range []string{"name.formatted", "name.middleName", "nickName", "title", "userType",
		"preferredLanguage", "locale", "timezone", "profileUrl"} {
		s.Attrs[strings.ToLower(name)] = filtersql.Column{Expr: j.text("u.doc", false, strings.Split(name, ".")...), Kind: filtersql.String}
	}
	ent := strings.ToLower(URNEnterprise) + ":"
	for _, name := range []string{"employeeNumber", "costCenter", "organization", "division", "department", "manager.value"} {
		s.Attrs[ent+strings.ToLower(name)] = filtersql.Column{
			Expr: j.text("u.doc", false, append([]string{URNEnterprise}, strings.Split(name, ".")...)...),
			Kind: filtersql.String, CaseExact: name == "manager.value"}
	}
	return s
}

func newGroupFilterSchema(j jsonSQL) *filtersql.Schema {
	return &filtersql.Schema{URN: URNGroup, Postgres: j.pg, Attrs: map[string]filtersql.Column{
		"id":                {Expr: "g.id", Kind: filtersql.String, CaseExact: true},
		"externalid":        {Expr: "g.external_id", Kind: filtersql.String, CaseExact: true},
		"displayname":       {Expr: "g.display_name_norm", Kind: filtersql.String, Folded: true},
		"meta.created":      {Expr: "g.created_at", Kind: filtersql.DateTime, MillisTime: true},
		"meta.lastmodified": {Expr: "g.modified_at", Kind: filtersql.DateTime, MillisTime: true},
	}, Multis: map[string]filtersql.Multi{
		"members": {From: "group_members fm JOIN users fu ON fu.seq = fm.user_seq", Where: "fm.group_seq = g.seq",
			Default: "value", Sub: map[string]filtersql.Column{
				"value":   {Expr: "fu.id", Kind: filtersql.String, CaseExact: true},
				"display": {Expr: "fu.display_name", Kind: filtersql.String},
			}},
	}}
}

// filterSchemas are the filter allow-lists for one database engine: per resource type, and
// for a root query (each type's own attributes plus the other type's as unassigned).
type filterSchemas struct {
	user, group, rootUser, rootGroup *filtersql.Schema
}

func newFilterSchemas(pg bool) *filterSchemas {
	j := jsonSQL{pg: pg}
	user, group := newUserFilterSchema(j), newGroupFilterSchema(j)
	return &filterSchemas{user: user, group: group,
		rootUser: withUnassigned(user, group, pg), rootGroup: withUnassigned(group, user, pg)}
}

var sqliteFilters, postgresFilters = newFilterSchemas(false), newFilterSchemas(true)

// filters are the allow-lists for the engine the server's database runs on.
func (s *Server) filters() *filterSchemas {
	if s.db.Postgres() {
		return postgresFilters
	}
	return sqliteFilters
}

// userFilterSchema and groupFilterSchema are SQLite's, the default engine.
var userFilterSchema, groupFilterSchema = sqliteFilters.user, sqliteFilters.group

// userSortColumns and groupSortColumns are the sortBy allow-lists (SQL pasted into ORDER BY).
var userSortColumns = map[string]string{
	"username":          "u.user_name_norm",
	"displayname":       "golower(u.display_name)",
	"name.familyname":   "golower(u.family_name)",
	"name.givenname":    "golower(u.given_name)",
	"externalid":        "u.external_id",
	"meta.created":      "u.seq", // creation order, without a sort
	"meta.lastmodified": "u.modified_at",
	"id":                "u.id",
}

var groupSortColumns = map[string]string{
	"displayname":       "g.display_name_norm",
	"externalid":        "g.external_id",
	"meta.created":      "g.seq",
	"meta.lastmodified": "g.modified_at",
	"id":                "g.id",
}

// jsonSQL writes the expressions that read attributes from a JSON document column (or
// from one element of a multi-valued attribute) in one engine's dialect.
type jsonSQL struct{ pg bool }

// text is the value at keys inside col, as text; NULL when absent. elem says col is an
// element of multi (already JSON) rather than a document column (text holding JSON).
func (j jsonSQL) text(col string, elem bool, keys ...string) string {
	if j.pg {
		return "(" + j.jsonb(col, elem) + " #>> " + pgPath(keys) + ")"
	}
	return "json_extract(" + col + ", '" + strings.ReplaceAll(sqlitePath(keys), "'", "''") + "')"
}

// flag is a JSON boolean at keys inside the element col as 1 or 0 (as SQLite's
// json_extract gives it), NULL when absent or not a boolean.
func (j jsonSQL) flag(col string, keys ...string) string {
	if j.pg {
		v := "(" + col + " #> " + pgPath(keys) + ")"
		return "(CASE WHEN jsonb_typeof(" + v + ") = 'boolean' THEN CASE WHEN " + v + " = 'true'::jsonb THEN 1 ELSE 0 END END)"
	}
	return j.text(col, true, keys...)
}

func (j jsonSQL) jsonb(col string, elem bool) string {
	if elem {
		return col
	}
	return "CAST(" + col + " AS jsonb)"
}

// multi is the multi-valued attribute at key of the document column col: one row per
// element, each sub-attribute read from the element.
func (j jsonSQL) multi(col, key string, subs ...string) filtersql.Multi {
	alias := "e_" + strings.ToLower(key)
	from := "json_each(" + col + ", '" + sqlitePath([]string{key}) + "') " + alias
	if j.pg {
		// jsonb_array_elements fails on anything but an array; a document whose attribute
		// is something else has no elements, as it has none on SQLite's side in practice.
		v := j.jsonb(col, false) + " -> " + pgText(key)
		from = "jsonb_array_elements(CASE WHEN jsonb_typeof(" + v + ") = 'array' THEN " + v + " ELSE '[]'::jsonb END) AS " + alias + "(value)"
	}
	m := filtersql.Multi{From: from, Default: "value", Sub: map[string]filtersql.Column{}}
	for _, sub := range subs {
		if sub == "primary" {
			m.Sub[sub] = filtersql.Column{Expr: j.flag(alias+".value", sub), Kind: filtersql.Boolean}
			continue
		}
		m.Sub[sub] = filtersql.Column{Expr: j.text(alias+".value", true, sub), Kind: filtersql.String}
	}
	return m
}

// sqlitePath is a JSON path for SQLite's JSON functions: $.name.formatted, with a key
// that is not a plain name quoted ($."urn:...:User".department).
func sqlitePath(keys []string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, k := range keys {
		b.WriteString(".")
		if strings.ContainsAny(k, ":.\" ") {
			b.WriteString(`"` + k + `"`)
		} else {
			b.WriteString(k)
		}
	}
	return b.String()
}

// pgPath is a path for PostgreSQL's #> and #>> operators: ARRAY['name', 'formatted'].
func pgPath(keys []string) string {
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = pgText(k)
	}
	return "ARRAY[" + strings.Join(quoted, ", ") + "]::text[]"
}

func pgText(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
