package scimserver

import (
	"strings"

	"scimdesk/scimserver/filtersql"
)

// What filters may name, and how each attribute maps to SQL. Anything not listed is
// refused with invalidFilter, never ignored.
var userFilterSchema = func() *filtersql.Schema {
	s := &filtersql.Schema{URN: URNUser, Attrs: map[string]filtersql.Column{
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
		"emails":       multiJSON("u.doc", "$.emails", "value", "type", "display", "primary"),
		"phonenumbers": multiJSON("u.doc", "$.phoneNumbers", "value", "type", "display", "primary"),
		"groups": {From: "group_members gm JOIN groups gg ON gg.seq = gm.group_seq", Where: "gm.user_seq = u.seq",
			Default: "value", Sub: map[string]filtersql.Column{
				"value":   {Expr: "gg.id", Kind: filtersql.String, CaseExact: true},
				"display": {Expr: "gg.display_name", Kind: filtersql.String},
			}},
	}}
	for _, name := range []string{"name.formatted", "name.middleName", "nickName", "title", "userType",
		"preferredLanguage", "locale", "timezone", "profileUrl"} {
		s.Attrs[strings.ToLower(name)] = filtersql.Column{Expr: jsonExtract("u.doc", "$."+name), Kind: filtersql.String}
	}
	ent := strings.ToLower(URNEnterprise) + ":"
	for _, name := range []string{"employeeNumber", "costCenter", "organization", "division", "department", "manager.value"} {
		s.Attrs[ent+strings.ToLower(name)] = filtersql.Column{
			Expr: jsonExtract("u.doc", `$."`+URNEnterprise+`".`+name), Kind: filtersql.String, CaseExact: name == "manager.value"}
	}
	return s
}()

var groupFilterSchema = &filtersql.Schema{URN: URNGroup, Attrs: map[string]filtersql.Column{
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

func jsonExtract(col, path string) string {
	return "json_extract(" + col + ", '" + strings.ReplaceAll(path, "'", "''") + "')"
}

func multiJSON(col, path string, subs ...string) filtersql.Multi {
	alias := "e_" + strings.ToLower(strings.TrimPrefix(path, "$."))
	m := filtersql.Multi{From: "json_each(" + col + ", '" + path + "') " + alias, Default: "value", Sub: map[string]filtersql.Column{}}
	for _, sub := range subs {
		kind := filtersql.String
		if sub == "primary" {
			kind = filtersql.Boolean
		}
		m.Sub[sub] = filtersql.Column{Expr: jsonExtract(alias+".value", "$."+sub), Kind: kind}
	}
	return m
}
