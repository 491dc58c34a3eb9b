package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/scimserver"
)

// BenchmarkScrape measures one whole scrape of /metrics, with the database counts made
// anew (counting) or reused (cached), over 100,000 users (SCIMDESK_BENCH_USERS changes it), a fifth of them
// deactivated, as in a real directory: the most a scrape can cost (counts are reused for a
// while after an expensive one, see defaultCostFactor).
func BenchmarkScrape(b *testing.B) {
	n := 100_000
	if s := os.Getenv("SCIMDESK_BENCH_USERS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), db.WithWriteBudget(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	const batch = 5000
	for start := 0; start < n; start += batch {
		err := d.Write(ctx, func(tx *db.Tx) error {
			for i := start; i < min(start+batch, n); i++ {
				name := fmt.Sprintf("seed%07d@example.com", i)
				u := db.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), UserName: name, Email: name,
					DisplayName: "Seed", Active: i%5 != 0,
					Doc: []byte(`{"userName":"` + name + `","displayName":"Seed","name":{"givenName":"Seed","familyName":"` + strconv.Itoa(i) + `"}}`)}
				if err := tx.InsertUser(ctx, &u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	scrape := func(b *testing.B, m *Metrics) {
		h := m.Handler()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
			io.Copy(io.Discard, rec.Body)
		}
	}
	b.Run("counting", func(b *testing.B) {
		m := New(d, Options{CacheFor: time.Nanosecond})
		m.db.costFactor = 0 // count at every scrape
		scrape(b, m)
	})
	b.Run("cached", func(b *testing.B) {
		scrape(b, New(d, Options{CacheFor: time.Hour})) // what scrapes between two counts cost
	})
}

// BenchmarkObserveRequest is what counting and timing one request adds to it.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(nil, Options{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest("Users", "GET", 200, 3*time.Millisecond)
		}
	})
}

// BenchmarkSCIMRequest is a whole SCIM request through the server's handler (auth, read,
// render, the request id and log wrapper), in process, without and with the metrics
// observer: the load test's question (what do metrics cost a request?) without the
// network and the scheduler, whose noise on a shared machine is larger than the answer.
//
//	go test -run '^$' -bench SCIMRequest -count 6 ./metrics/
func BenchmarkSCIMRequest(b *testing.B) {
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := d.SetSCIMEnabled(ctx, true, "bench"); err != nil {
		b.Fatal(err)
	}
	_, secret, err := d.CreateToken(ctx, "bench", 0, "bench")
	if err != nil {
		b.Fatal(err)
	}
	const id = "00000000-0000-4000-8000-000000000001"
	err = d.Write(ctx, func(tx *db.Tx) error {
		u := db.User{ID: id, UserName: "ada@example.com", Email: "ada@example.com", DisplayName: "Ada", Active: true,
			Doc: []byte(`{"userName":"ada@example.com","displayName":"Ada","name":{"givenName":"Ada","familyName":"Lovelace"}}`)}
		return tx.InsertUser(ctx, &u)
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		name := "metrics-off"
		cfg := scimserver.Config{}
		if on {
			name = "metrics-on"
			cfg.Observer = New(d, Options{})
		}
		h := scimserver.New(d, cfg).Handler()
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", "/scim/v2/Users/"+id, nil)
				req.Header.Set("Authorization", "Bearer "+secret)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code, rec.Body.String())
				}
			}
		})
	}
}
