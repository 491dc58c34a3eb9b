package scimserver

import (
	"fmt"
	"net/url"
	"scimdesk/internal/teststore"
	"slices"
	"strings"
	"testing"
	"time"

	"scimdesk/scimserver/filtersql"
)

// TestFilterMappingEndToEnd checks the server's own mapping of SCIM attributes to columns
// and JSON paths (userFilterSchema, groupFilterSchema) against the real migrations: the
// translator's own tests use a schema of their own, so a filter attribute mapped to the
// wrong column would pass them. Users a, b and c carry a distinct value in every
// attribute (d carries only a userName), and each filter must find exactly the expected
// ones. The cases are checked against the schema maps, so an attribute added to a map
// without a case here fails the test.
func TestFilterMappingEndToEnd(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		ent := URNEnterprise + ":"
		// The string attributes a client can set, by their canonical path, and whether they
		// compare case-exactly (RFC 7643: externalId and ids do; the manager's value is an id).
		userStrings := map[string]bool{
			"externalId": true, "displayName": false, "name.givenName": false, "name.familyName": false,
			"name.formatted": false, "name.middleName": false, "nickName": false, "title": false, "userType": false,
			"preferredLanguage": false, "locale": false, "timezone": false, "profileUrl": false,
			ent + "employeeNumber": false, ent + "costCenter": false, ent + "organization": false,
			ent + "division": false, ent + "department": false, ent + "manager.value": true,
			"emails.value": false, "emails.type": false, "emails.display": false,
			"phoneNumbers.value": false, "phoneNumbers.type": false, "phoneNumbers.display": false,
		}
		val := func(path, who string) string {
			p := strings.TrimPrefix(path, ent)
			return strings.ReplaceAll(p, ".", "_") + "-" + who + "-Val"
		}
		ids := map[string]string{} // label -> id
		label := map[string]string{}
		created := map[string]string{}
		for _, who := range []string{"a", "b", "c", "d"} {
			doc := map[string]any{"userName": "user-" + who + "-Val"}
			if who != "d" {
				for path := range userStrings {
					setPath(doc, strings.TrimPrefix(path, ent), path != strings.TrimPrefix(path, ent), val(path, who))
				}
				// Only b is inactive and has primary elements.
				doc["active"] = who != "b"
				doc["emails"].([]any)[0].(map[string]any)["primary"] = who == "b"
				doc["phoneNumbers"].([]any)[0].(map[string]any)["primary"] = who == "b"
			}
			r := e.do("POST", "/Users", jsonBody(doc))
			if r.status != 201 {
				t.Fatalf("create %s: %d %s", who, r.status, r.raw)
			}
			ids[who] = r.json["id"].(string)
			label[ids[who]] = who
			created[who] = fmt.Sprint(r.json["meta"].(map[string]any)["created"])
			time.Sleep(3 * time.Millisecond) // distinct creation times, stored in milliseconds
		}
		// Groups: ga holds a, gb holds b, gc holds c and a. A user's groups and a group's
		// members are the same rows seen from both sides.
		for _, c := range []struct{ who, members string }{{"a", "a"}, {"b", "b"}, {"c", "c a"}} {
			var ms []map[string]string
			for _, m := range strings.Fields(c.members) {
				ms = append(ms, map[string]string{"value": ids[m]})
			}
			g := "g" + c.who
			r := e.do("POST", "/Groups", jsonBody(map[string]any{"displayName": val("displayName", g), "externalId": val("externalId", g), "members": ms}))
			if r.status != 201 {
				t.Fatalf("create group %s: %d %s", g, r.status, r.raw)
			}
			ids[g] = r.json["id"].(string)
			label[ids[g]] = g
			created[g] = fmt.Sprint(r.json["meta"].(map[string]any)["created"])
			time.Sleep(3 * time.Millisecond)
		}
		// b and gb are modified last: later than d and gc, the last ones made.
		modifiedBefore := map[string]string{}
		for _, p := range []string{"/Users/" + ids["d"], "/Groups/" + ids["gc"]} {
			r := e.do("GET", p, "")
			s, _ := get(r.json, "meta.lastModified")
			modifiedBefore[p[1:2]] = fmt.Sprint(s)
		}
		// Touched twice (to another value and back), since a PATCH that changes nothing
		// keeps the resource's version and time.
		for _, touch := range []struct{ path, attr, value string }{
			{"/Users/" + ids["b"], "nickName", val("nickName", "b")},
			{"/Groups/" + ids["gb"], "displayName", val("displayName", "gb")},
		} {
			time.Sleep(3 * time.Millisecond)
			for _, v := range []string{"changed", touch.value} {
				if r := e.do("PATCH", touch.path, patchBody(`{"op":"replace","path":"`+touch.attr+`","value":"`+v+`"}`)); r.status != 200 {
					t.Fatalf("touch %s: %d %s", touch.path, r.status, r.raw)
				}
			}
		}

		type check struct {
			filter string
			want   string // labels, space-separated, sorted
		}
		userCases := map[string][]check{
			"id":       {{`id eq "` + ids["b"] + `"`, "b"}, {`id eq "` + strings.ToUpper(ids["b"]) + `"`, ""}, {`id pr`, "a b c d"}},
			"username": {{`userName eq "user-b-Val"`, "b"}, {`userName eq "USER-B-VAL"`, "b"}, {`userName sw "user-b"`, "b"}, {`userName co "r-d-v"`, "d"}},
			"active":   {{`active eq false`, "b"}, {`active eq true`, "a c d"}, {`active ne true`, "b"}},
			"meta.created": {{`meta.created gt "` + fmt.Sprint(created["a"]) + `" and meta.created lt "` + fmt.Sprint(created["c"]) + `"`, "b"},
				{`meta.created eq "` + fmt.Sprint(created["b"]) + `"`, "b"}, {`meta.created le "` + fmt.Sprint(created["a"]) + `"`, "a"}},
			"meta.lastmodified":    {{`meta.lastModified gt "` + modifiedBefore["U"] + `"`, "b"}},
			"emails.primary":       {{`emails.primary eq true`, "b"}, {`emails[primary eq true]`, "b"}},
			"phonenumbers.primary": {{`phoneNumbers.primary eq true`, "b"}},
			"emails":               {{`emails co "value-b-"`, "b"}, {`emails pr`, "a b c"}},
			"phonenumbers":         {{`phoneNumbers sw "phoneNumbers_value-b"`, "b"}},
			"groups":               {{`groups eq "` + ids["gb"] + `"`, "b"}, {`groups pr`, "a b c"}},
			"groups.value":         {{`groups.value eq "` + ids["gb"] + `"`, "b"}, {`groups.value eq "` + ids["gc"] + `"`, "a c"}},
			"groups.display":       {{`groups.display eq "displayName-gb-Val"`, "b"}, {`groups.display co "-GC-"`, "a c"}},
		}
		for path, caseExact := range userStrings {
			v := val(path, "b")
			upper := "b"
			if caseExact {
				upper = ""
			}
			userCases[strings.ToLower(path)] = []check{
				{path + ` eq "` + v + `"`, "b"},
				{path + ` eq "` + strings.ToUpper(v) + `"`, upper},
				{path + ` sw "` + v[:len(v)-4] + `"`, "b"},
				{path + ` co "-b-"`, "b"},
				{path + ` pr`, "a b c"},
				{path + ` gt "` + val(path, "a") + `" and ` + path + ` lt "` + val(path, "c") + `"`, "b"},
			}
		}
		groupCases := map[string][]check{
			"id":                {{`id eq "` + ids["gb"] + `"`, "gb"}},
			"externalid":        {{`externalId eq "externalId-gb-Val"`, "gb"}, {`externalId eq "EXTERNALID-GB-VAL"`, ""}, {`externalId sw "externalId-gc"`, "gc"}},
			"displayname":       {{`displayName eq "displayName-gb-Val"`, "gb"}, {`displayName eq "DISPLAYNAME-GB-VAL"`, "gb"}, {`displayName co "-gc-"`, "gc"}},
			"meta.created":      {{`meta.created gt "` + fmt.Sprint(created["ga"]) + `" and meta.created lt "` + fmt.Sprint(created["gc"]) + `"`, "gb"}},
			"meta.lastmodified": {{`meta.lastModified gt "` + modifiedBefore["G"] + `"`, "gb"}},
			"members":           {{`members eq "` + ids["b"] + `"`, "gb"}, {`members pr`, "ga gb gc"}},
			"members.value":     {{`members.value eq "` + ids["a"] + `"`, "ga gc"}, {`members.value eq "` + strings.ToUpper(ids["a"]) + `"`, ""}},
			"members.display":   {{`members.display eq "displayName-c-Val"`, "gc"}, {`members[display sw "displayName-b"]`, "gb"}},
		}

		run := func(kind string, schemaKeys []string, cases map[string][]check) {
			for _, k := range schemaKeys {
				cs := cases[k]
				if len(cs) == 0 {
					t.Errorf("%s filter attribute %q has no case in this test", kind, k)
				}
				for _, c := range cs {
					r := e.do("GET", "/"+kind+"?count=100&filter="+url.QueryEscape(c.filter), "")
					if r.status != 200 {
						t.Errorf("%s %s: %d %s", kind, c.filter, r.status, r.raw)
						continue
					}
					var got []string
					list, _ := r.json["Resources"].([]any)
					for _, res := range list {
						got = append(got, label[res.(map[string]any)["id"].(string)])
					}
					slices.Sort(got)
					if s := strings.Join(got, " "); s != c.want {
						t.Errorf("%s?filter=%s: found %q, want %q", kind, c.filter, s, c.want)
					}
				}
			}
		}
		run("Users", schemaKeys(userFilterSchema), userCases)
		run("Groups", schemaKeys(groupFilterSchema), groupCases)
	})
}

// schemaKeys lists the names a filter may use: each attribute, each multi-valued one
// (which means its default sub-attribute) and each of their sub-attributes.
func schemaKeys(s *filtersql.Schema) []string {
	var keys []string
	for k := range s.Attrs {
		keys = append(keys, k)
	}
	for k, m := range s.Multis {
		keys = append(keys, k)
		for sub := range m.Sub {
			keys = append(keys, k+"."+sub)
		}
	}
	slices.Sort(keys)
	return keys
}

// setPath sets a dotted path in a resource body: into the enterprise extension's
// object when ext, into the first element of emails and phoneNumbers.
func setPath(doc map[string]any, path string, ext bool, v string) {
	if ext {
		sub, _ := doc[URNEnterprise].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			doc[URNEnterprise] = sub
		}
		doc = sub
	}
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		doc[head] = v
		return
	}
	if head == "emails" || head == "phoneNumbers" {
		list, _ := doc[head].([]any)
		if list == nil {
			list = []any{map[string]any{}}
			doc[head] = list
		}
		list[0].(map[string]any)[rest] = v
		return
	}
	obj, _ := doc[head].(map[string]any)
	if obj == nil {
		obj = map[string]any{}
		doc[head] = obj
	}
	obj[rest] = v
}

// TestSortMappingEndToEnd does for sortBy what TestFilterMappingEndToEnd does for
// filters: every column of userSortColumns and groupSortColumns orders real resources.
// Each attribute puts the resources in an order of its own, so that sorting by the wrong
// column gives another order; the values mix upper and lower case, so that a
// case-insensitive attribute sorted case-sensitively (or the reverse) does too.
func TestSortMappingEndToEnd(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		words := []string{"alpha", "Bravo", "charlie", "Delta"} // by rank, case-insensitively
		type sortAttr struct {
			path      string
			order     string // the resources, by rank
			caseExact bool
		}
		userAttrs := []sortAttr{
			{"userName", "zwyx", false}, {"displayName", "yzxw", false}, {"name.familyName", "xzwy", false},
			{"name.givenName", "wyzx", false}, {"externalId", "yxwz", true},
		}
		groupAttrs := []sortAttr{{"displayName", "yxw", false}, {"externalId", "xwy", true}}

		// want is the resources in ascending order of the values they were given.
		value := func(a sortAttr, who string) string {
			return strings.ReplaceAll(a.path, ".", "_") + "-" + words[strings.Index(a.order, who)]
		}
		want := func(a sortAttr) string {
			labels := []byte(a.order)
			key := func(who byte) string {
				v := value(a, string(who))
				if !a.caseExact {
					v = strings.ToLower(v)
				}
				return v
			}
			slices.SortFunc(labels, func(p, q byte) int { return strings.Compare(key(p), key(q)) })
			return string(labels)
		}
		label := map[string]string{}
		byID := func(kind string, whos string) string {
			b := []byte(whos)
			slices.SortFunc(b, func(p, q byte) int {
				return strings.Compare(ids(label, kind+string(p)), ids(label, kind+string(q)))
			})
			return string(b)
		}
		for _, who := range "wxyz" {
			doc := map[string]any{}
			for _, a := range userAttrs {
				setPath(doc, a.path, false, value(a, string(who)))
			}
			r := e.do("POST", "/Users", jsonBody(doc))
			if r.status != 201 {
				t.Fatalf("create %c: %d %s", who, r.status, r.raw)
			}
			label[r.json["id"].(string)] = string(who)
			time.Sleep(3 * time.Millisecond) // distinct times, stored in milliseconds
		}
		for _, who := range "wxy" {
			doc := map[string]any{}
			for _, a := range groupAttrs {
				doc[a.path] = value(a, string(who))
			}
			r := e.do("POST", "/Groups", jsonBody(doc))
			if r.status != 201 {
				t.Fatalf("create group %c: %d %s", who, r.status, r.raw)
			}
			label[r.json["id"].(string)] = "g" + string(who)
			time.Sleep(3 * time.Millisecond)
		}
		// Modified after creation, in this order: lastModified ascending is w x z y for the
		// users and x y w for the groups.
		for _, touch := range []string{"x", "z", "y", "gy", "gw"} {
			kind := "/Users/"
			if touch[0] == 'g' {
				kind = "/Groups/"
			}
			// A group is renamed and renamed back, in two requests: one that ends where it
			// started changes nothing, and keeps its time.
			bodies := []string{patchBody(`{"op":"replace","path":"title","value":"touched"}`)}
			if kind == "/Groups/" {
				name := value(groupAttrs[0], touch[1:])
				bodies = []string{patchBody(`{"op":"replace","path":"displayName","value":"` + name + `-"}`),
					patchBody(`{"op":"replace","path":"displayName","value":"` + name + `"}`)}
			}
			for _, body := range bodies {
				if r := e.do("PATCH", kind+ids(label, touch), body); r.status != 200 {
					t.Fatalf("touch %s: %d %s", touch, r.status, r.raw)
				}
			}
			time.Sleep(3 * time.Millisecond)
		}

		userCases := map[string]string{"meta.created": "wxyz", "meta.lastmodified": "wxzy", "id": byID("", "wxyz")}
		for _, a := range userAttrs {
			userCases[strings.ToLower(a.path)] = want(a)
		}
		groupCases := map[string]string{"meta.created": "wxy", "meta.lastmodified": "xyw", "id": byID("g", "wxy")}
		for _, a := range groupAttrs {
			groupCases[strings.ToLower(a.path)] = want(a)
		}
		check := func(kind string, columns map[string]string, cases map[string]string) {
			for col := range columns {
				asc, ok := cases[col]
				if !ok {
					t.Errorf("%s sort column %q has no case in this test", kind, col)
					continue
				}
				desc := []byte(asc)
				slices.Reverse(desc)
				for _, c := range []struct{ order, want string }{{"ascending", asc}, {"descending", string(desc)}} {
					r := e.do("GET", "/"+kind+"?count=100&sortBy="+url.QueryEscape(col)+"&sortOrder="+c.order, "")
					var got strings.Builder
					list, _ := r.json["Resources"].([]any)
					for _, res := range list {
						got.WriteString(strings.TrimPrefix(label[res.(map[string]any)["id"].(string)], "g"))
					}
					if got.String() != c.want {
						t.Errorf("%s sorted by %s %s: %s, want %s", kind, col, c.order, got.String(), c.want)
					}
				}
			}
		}
		check("Users", userSortColumns, userCases)
		check("Groups", groupSortColumns, groupCases)
	})
}

// ids finds the id given a label in a label-by-id map.
func ids(label map[string]string, want string) string {
	for id, l := range label {
		if l == want {
			return id
		}
	}
	return ""
}
