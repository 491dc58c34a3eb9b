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
