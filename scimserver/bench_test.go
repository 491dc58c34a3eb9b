package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"scimdesk/db"
)

// benchEnv is a server handler over a database seeded with n users through the real
// create path, called in process (no sockets) so the profile shows the server's own work.
type benchEnv struct {
	h      func(method, path, body string) *httptest.ResponseRecorder
	ids    []string
	groups []string
}

var benchEnvs = map[int]*benchEnv{}

// benchDirs are the seeded databases' directories, shared by the benchmarks of one run and
// removed by TestMain when it ends.
var benchDirs []string

func seededEnv(b *testing.B, n int) *benchEnv {
	if e := benchEnvs[n]; e != nil {
		return e
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "scimdesk-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchDirs = append(benchDirs, dir)
	d, err := db.Open(ctx, filepath.Join(dir, "bench.db"), db.WithWriteBudget(time.Hour)) // seeds in large writes
	if err != nil {
		b.Fatal(err)
	}
	d.SetSCIMEnabled(ctx, true, "bench")
	_, token, _ := d.CreateToken(ctx, "bench", 0, "bench")
	h := New(d, Config{Addr: "127.0.0.1:0"}).Handler()
	e := &benchEnv{h: func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://127.0.0.1/scim/v2"+path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}}
	// Seed through the database in large transactions (the HTTP create path is measured
	// by BenchmarkCreate); the docs are what the server itself would store.
	const batch = 5000
	for start := 0; start < n; start += batch {
		base := len(e.ids)
		err := d.Write(ctx, func(tx *db.Tx) error {
			e.ids = e.ids[:base] // a write may run twice (see db.Write)
			for i := start; i < min(start+batch, n); i++ {
				name := fmt.Sprintf("seed%07d@example.com", i)
				in := map[string]any{"userName": name, "displayName": "Seed " + strconv.Itoa(i), "active": true,
					"name":   map[string]any{"givenName": "Seed", "familyName": strconv.Itoa(i)},
					"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}}}
				d, _ := userNormalizer.normalize(in)
				var u db.User
				userFromDoc(d, &u)
				u.ID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
				if err := tx.InsertUser(ctx, &u); err != nil {
					return err
				}
				e.ids = append(e.ids, u.ID)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := range 20 {
		rec := e.h("POST", "/Groups", fmt.Sprintf(`{"displayName":"bench-%d"}`, i))
		var g struct{ ID string }
		json.Unmarshal(rec.Body.Bytes(), &g)
		e.groups = append(e.groups, g.ID)
	}
	benchEnvs[n] = e
	return e
}

func benchScenario(b *testing.B, n int, want int, req func(e *benchEnv, i int) (string, string, string)) {
	e := seededEnv(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		method, path, body := req(e, i)
		if rec := e.h(method, path, body); rec.Code != want {
			b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
}

func benchSizes(b *testing.B, f func(b *testing.B, n int)) {
	sizes := []int{10_000}
	if s := os.Getenv("SCIMDESK_BENCH_USERS"); s != "" {
		n, _ := strconv.Atoi(s)
		sizes = []int{n}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) { f(b, n) })
	}
}

func BenchmarkLookupUserName(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		benchScenario(b, n, 200, func(e *benchEnv, i int) (string, string, string) {
			return "GET", "/Users?filter=userName+eq+%22" + fmt.Sprintf("seed%07d%%40example.com", (i*7919)%n) + "%22&startIndex=1&count=100", ""
		})
	})
}

func BenchmarkGetByID(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		benchScenario(b, n, 200, func(e *benchEnv, i int) (string, string, string) {
			return "GET", "/Users/" + e.ids[(i*7919)%n], ""
		})
	})
}

func BenchmarkListPage100(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		benchScenario(b, n, 200, func(e *benchEnv, i int) (string, string, string) {
			return "GET", fmt.Sprintf("/Users?startIndex=%d&count=100", 1+((i*7919)%(n/100))*100), ""
		})
	})
}

func BenchmarkPatchDeactivate(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		benchScenario(b, n, 200, func(e *benchEnv, i int) (string, string, string) {
			return "PATCH", "/Users/" + e.ids[(i*7919)%n], `{"Operations":[{"op":"replace","value":{"active":false}}]}`
		})
	})
}

func BenchmarkCreate(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		benchScenario(b, n, 201, func(e *benchEnv, i int) (string, string, string) {
			return "POST", "/Users", fmt.Sprintf(`{"userName":"new-%d-%d@example.com","name":{"givenName":"N","familyName":"N"},"emails":[{"value":"n@example.com","type":"work","primary":true}],"active":true}`, n, i)
		})
	})
}

func BenchmarkGroupMemberAdd(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		benchScenario(b, n, 200, func(e *benchEnv, i int) (string, string, string) {
			return "PATCH", "/Groups/" + e.groups[i%len(e.groups)] + "?excludedAttributes=members",
				`{"Operations":[{"op":"add","path":"members","value":[{"value":"` + e.ids[(i*7919)%n] + `"}]}]}`
		})
	})
}

// BenchmarkPatchParallel runs PATCH from many goroutines at once, as 16 IdP connections
// would: it measures the group-commit writer rather than one request at a time.
func BenchmarkPatchParallel(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		e := seededEnv(b, n)
		b.ReportAllocs()
		b.SetParallelism(8)
		var ctr atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(ctr.Add(1))
				rec := e.h("PATCH", "/Users/"+e.ids[(i*7919)%n], `{"Operations":[{"op":"replace","value":{"active":false}}]}`)
				if rec.Code != 200 {
					b.Errorf("%d %s", rec.Code, rec.Body)
					return
				}
			}
		})
	})
}

// BenchmarkPatchManyOps is one user PATCH of many "add" operations on emails, each
// with a few addresses: together far past maxValues. The server must refuse it (400)
// without holding the single writer for the time it takes to build the list.
func BenchmarkPatchManyOps(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		e := seededEnv(b, n)
		var ops []string
		for i := range 100 {
			var vals []string
			for j := range 20 {
				vals = append(vals, fmt.Sprintf(`{"value":"m%d-%d@example.com","type":"work"}`, i, j))
			}
			ops = append(ops, `{"op":"add","path":"emails","value":[`+strings.Join(vals, ",")+`]}`)
		}
		body := `{"Operations":[` + strings.Join(ops, ",") + `]}`
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			rec := e.h("PATCH", "/Users/"+e.ids[(i*7919)%n], body)
			if rec.Code != 400 && rec.Code != 200 {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkGroupFilteredRemove removes 200 members of a 5,000-member group, each with a
// filtered path (members[value sw "id"]), and adds them back in the same request, so
// that every iteration starts from the same group.
func BenchmarkGroupFilteredRemove(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		e := seededEnv(b, n)
		const members, removed = 5000, 200
		var all []string
		for _, id := range e.ids[:min(members, n)] {
			all = append(all, `{"value":"`+id+`"}`)
		}
		rec := e.h("POST", "/Groups", `{"displayName":"bench-big-`+strconv.Itoa(n)+`","members":[`+strings.Join(all, ",")+`]}`)
		if rec.Code != 201 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		var g struct{ ID string }
		json.Unmarshal(rec.Body.Bytes(), &g)
		var ops, back []string
		for i := range removed {
			id := e.ids[(i*37)%min(members, n)]
			ops = append(ops, `{"op":"remove","path":"members[value sw \"`+id+`\"]"}`)
			back = append(back, `{"value":"`+id+`"}`)
		}
		ops = append(ops, `{"op":"add","path":"members","value":[`+strings.Join(back, ",")+`]}`)
		body := `{"Operations":[` + strings.Join(ops, ",") + `]}`
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if rec := e.h("PATCH", "/Groups/"+g.ID+"?excludedAttributes=members", body); rec.Code != 200 {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}
