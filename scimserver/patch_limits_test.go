package scimserver

import (
	"fmt"
	"scimdesk/internal/teststore"
	"slices"
	"sort"
	"strings"
	"testing"
)

func patchBody(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// TestPatchManyOpsOverCap sends the request that used to hold the writer for most of a
// minute: 200 "add" operations of 100 emails each (400 KB). The caps hold for the result
// of a PATCH, not only for each operation's value, so it is refused at once and stores
// nothing.
func TestPatchManyOpsOverCap(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		r := e.do("POST", "/Users", `{"userName":"cap@example.com","emails":[{"value":"cap@example.com","type":"work","primary":true}]}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		e.vars["u"] = r.json["id"].(string)
		var ops []string
		for i := range 200 {
			vals := make([]string, 100)
			for j := range vals {
				vals[j] = fmt.Sprintf(`{"value":"a%03d-%03d@example.com","type":"work"}`, i, j)
			}
			ops = append(ops, `{"op":"add","path":"emails","value":[`+strings.Join(vals, ",")+`]}`)
		}
		// The refusal must be the per-step cap's ("more than 100 values"): checked only on the
		// whole result, the request would run 20,000 adds inside the writer and be refused by
		// its write budget or the size limit instead, with another answer. (No wall-clock
		// check: timings belong in benchmarks.)
		r = e.do("PATCH", "/Users/${u}", patchBody(ops...))
		if r.status != 400 || r.json["scimType"] != errInvalidValue || !strings.Contains(fmt.Sprint(r.json["detail"]), "more than 100") {
			t.Fatalf("status %d, want 400 invalidValue over the cap: %s", r.status, truncate(string(r.raw), 300))
		}
		r = e.do("GET", "/Users/${u}", "")
		r.expect(t, "after", map[string]any{"meta.version": `W/"1"`, "emails.0.value": "cap@example.com", "emails.1": "<absent>"})

		// Many operations that stay within the cap together still work.
		r = e.do("PATCH", "/Users/${u}", patchBody(
			`{"op":"add","path":"emails","value":[{"value":"b@example.com","type":"home"}]}`,
			`{"op":"add","path":"emails","value":[{"value":"B@example.com","type":"Home"}]}`,
			`{"op":"add","path":"emails","value":[{"value":"c@example.com","type":"other"}]}`))
		if r.status != 200 {
			t.Fatalf("small PATCH: %d %s", r.status, r.raw)
		}
		if n := len(r.json["emails"].([]any)); n != 3 {
			t.Errorf("emails after adding one twice and another: %d, want 3: %s", n, r.raw)
		}
	})
}

// TestPatchPathLimits sends PATCH paths beyond the limits a list filter has. They are
// refused while the request is parsed: the resource ids below name nothing, and a
// refusal from inside the write (which reads the resource first) would be a 404.
func TestPatchPathLimits(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		deep := `emails[` + strings.Repeat("(", 40) + `type eq "work"` + strings.Repeat(")", 40) + `].value`
		many := `emails[` + strings.Repeat(`type eq "x" or `, 150) + `type eq "y"]`
		long := `emails[value eq "` + strings.Repeat("a", 5000) + `"]`
		for _, c := range []struct{ name, res, path string }{
			{"too deep", "/Users/nobody", deep},
			{"too many comparisons", "/Users/nobody", many},
			{"too long", "/Users/nobody", long},
			{"member filter too deep", "/Groups/nobody", `members[` + strings.Repeat("(", 40) + `value sw "x"` + strings.Repeat(")", 40) + `]`},
			{"member filter too long", "/Groups/nobody", `members[value sw "` + strings.Repeat("x", 5000) + `"]`},
			{"unknown sub-attribute in the filter", "/Users/nobody", `emails[colour eq "red"]`},
			{"nested brackets", "/Users/nobody", `emails[type[value eq "x"] pr]`},
		} {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				r := e.do("PATCH", c.res, patchBody(`{"op":"replace","path":`+jsonBody(c.path)+`,"value":"a@b"}`))
				if r.status != 400 || (r.json["scimType"] != errInvalidPath && r.json["scimType"] != errInvalidFilter) {
					t.Fatalf("status %d, want 400 invalidPath or invalidFilter before the write: %s", r.status, truncate(string(r.raw), 300))
				}
			})
		}
	})
}

// TestPatchWorkLimits: each path within the limits, but together more filter work than
// the writer should do for one request. Refused while parsing (404 would mean the
// request reached the write).
func TestPatchWorkLimits(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		var comparisons, scans []string
		filter99 := strings.Repeat(`type eq "x" or `, 98) + `type eq "y"`
		for range 21 {
			comparisons = append(comparisons, `{"op":"remove","path":`+jsonBody(`emails[`+filter99+`]`)+`}`)
		}
		for i := range maxMemberScans + 1 {
			scans = append(scans, fmt.Sprintf(`{"op":"remove","path":"members[display co \"%d\"]"}`, i))
		}
		for _, c := range []struct{ name, res, body string }{
			{"comparisons in all paths", "/Users/nobody", patchBody(comparisons...)},
			{"member filters that scan", "/Groups/nobody", patchBody(scans...)},
		} {
			r := e.do("PATCH", c.res, c.body)
			if r.status != 400 || r.json["scimType"] != errInvalidFilter {
				t.Errorf("%s: %d %s, want 400 invalidFilter", c.name, r.status, truncate(string(r.raw), 300))
			}
		}
		// At the limit, a request goes through to the write (and finds no resource).
		if r := e.do("PATCH", "/Groups/nobody", patchBody(scans[:maxMemberScans]...)); r.status != 404 {
			t.Errorf("%d member scans: %d %s, want 404", maxMemberScans, r.status, r.raw)
		}
		// Exactly maxPatchComparisons in all (20 paths of 99 and one of 20) goes through too;
		// one more is refused.
		orN := func(n int) string { return strings.Repeat(`type eq "x" or `, n-1) + `type eq "y"` }
		removeBy := func(n int) string { return `{"op":"remove","path":` + jsonBody(`emails[`+orN(n)+`]`) + `}` }
		atLimit := append(slices.Clone(comparisons[:20]), removeBy(maxPatchComparisons-20*99))
		if r := e.do("PATCH", "/Users/nobody", patchBody(atLimit...)); r.status != 404 {
			t.Errorf("%d comparisons in all: %d %s, want 404", maxPatchComparisons, r.status, truncate(string(r.raw), 300))
		}
		overLimit := append(slices.Clone(comparisons[:20]), removeBy(maxPatchComparisons-20*99+1))
		if r := e.do("PATCH", "/Users/nobody", patchBody(overLimit...)); r.status != 400 || r.json["scimType"] != errInvalidFilter {
			t.Errorf("%d comparisons in all: %d %s, want 400 invalidFilter", maxPatchComparisons+1, r.status, truncate(string(r.raw), 300))
		}
	})
}

// TestGroupFilteredRemoveMany removes many members of one group by filtered paths in one
// request, mixed with the other member operations, and checks exactly who is left.
func TestGroupFilteredRemoveMany(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		const n = 60
		ids := make([]string, n)
		for i := range ids {
			kind := "keep"
			if i%2 == 0 {
				kind = "drop"
			}
			r := e.do("POST", "/Users", fmt.Sprintf(`{"userName":"u%02d@example.com","displayName":"%s-%02d"}`, i, kind, i))
			if r.status != 201 {
				t.Fatalf("create: %d %s", r.status, r.raw)
			}
			ids[i] = r.json["id"].(string)
		}
		outsider := e.do("POST", "/Users", `{"userName":"outsider@example.com","displayName":"drop-x"}`).json["id"].(string)
		members := make([]string, n)
		for i, id := range ids {
			members[i] = `{"value":"` + id + `"}`
		}
		r := e.do("POST", "/Groups", `{"displayName":"big","members":[`+strings.Join(members, ",")+`]}`)
		if r.status != 201 {
			t.Fatalf("create group: %d %s", r.status, r.raw)
		}
		e.vars["g"] = r.json["id"].(string)

		var ops []string
		want := map[string]bool{}
		for i, id := range ids {
			want[id] = true
			if i < 20 { // the first 20 removed one by one with a prefix filter (the full id)
				ops = append(ops, `{"op":"remove","path":"members[value sw \"`+id+`\"]"}`)
				delete(want, id)
			}
		}
		ops = append(ops,
			// added in this request, then removed by a prefix filter: it is searched for
			// among the members added after the sorted index was built
			`{"op":"add","path":"members","value":[{"value":"`+outsider+`"}]}`,
			`{"op":"remove","path":"members[value sw \"`+outsider+`\"]"}`,
			// one filter over display: every "drop-" member not removed yet
			`{"op":"remove","path":"members[display sw \"DROP-\"]"}`,
			// value eq and a value list (Okta's and Entra's forms)
			`{"op":"remove","path":"members[value eq \"`+ids[21]+`\"]"}`,
			`{"op":"remove","path":"members","value":[{"value":"`+ids[23]+`"},{"value":"`+ids[0]+`"}]}`,
			// removed above and added back
			`{"op":"add","path":"members","value":[{"value":"`+ids[3]+`"}]}`)
		for i := 20; i < n; i += 2 {
			delete(want, ids[i])
		}
		delete(want, ids[21])
		delete(want, ids[23])
		want[ids[3]] = true

		r = e.do("PATCH", "/Groups/${g}", patchBody(ops...))
		if r.status != 200 {
			t.Fatalf("PATCH: %d %s", r.status, r.raw)
		}
		check := func(what string, r response, want map[string]bool) {
			t.Helper()
			var got, exp []string
			list, _ := r.json["members"].([]any)
			for _, m := range list {
				got = append(got, m.(map[string]any)["value"].(string))
			}
			for id := range want {
				exp = append(exp, id)
			}
			sort.Strings(got)
			sort.Strings(exp)
			if strings.Join(got, ",") != strings.Join(exp, ",") {
				t.Errorf("%s: %d members %v\nwant %d %v", what, len(got), got, len(exp), exp)
			}
		}
		check("answer", r, want)
		check("read back", e.do("GET", "/Groups/${g}", ""), want)

		// A filter that matches nothing fails the whole request: nothing changes.
		version := e.do("GET", "/Groups/${g}", "").json["meta"].(map[string]any)["version"]
		r = e.do("PATCH", "/Groups/${g}", patchBody(
			`{"op":"remove","path":"members[value sw \"`+ids[1]+`\"]"}`,
			`{"op":"remove","path":"members[value sw \"no-such-id\"]"}`))
		if r.status != 400 || r.json["scimType"] != errNoTarget {
			t.Fatalf("unmatched filter: %d %s", r.status, r.raw)
		}
		r = e.do("GET", "/Groups/${g}", "")
		check("after a failed request", r, want)
		r.expect(t, "version", map[string]any{"meta.version": version})
	})
}
