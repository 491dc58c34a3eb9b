package db

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scimdesk/internal/testpg"
)

// BenchmarkGroupCommitCreates measures the writer alone, without HTTP: 32 goroutines
// creating users (each with its audit event) through Write, on each engine, reporting
// writes/s, the mean batch size, the mean time a batch held the writer and the share of
// the run the writer was busy:
//
//	go test -run '^$' -bench GroupCommitCreates -benchtime 20000x ./db/
func BenchmarkGroupCommitCreates(b *testing.B) {
	for _, eng := range []string{"sqlite", "postgres"} {
		b.Run(eng, func(b *testing.B) {
			loc := filepath.Join(b.TempDir(), "w.db")
			if eng == "postgres" {
				loc = testpg.DSN(b)
			}
			d, err := Open(context.Background(), loc)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			ctx := context.Background()
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			before := d.WriterStats()
			var wg sync.WaitGroup
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						u := User{ID: fmt.Sprintf("id-%d-%d", b.N, i), UserName: fmt.Sprintf("u%d-%d@x", b.N, i), Active: true, Doc: []byte(`{}`)}
						if err := d.Write(ctx, func(tx *Tx) error {
							if err := tx.InsertUser(ctx, &u); err != nil {
								return err
							}
							return tx.InsertEvent(ctx, Event{Kind: "user.create", Subject: u.UserName, Status: 201})
						}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			st := d.WriterStats()
			bt := st.Batches - before.Batches
			b.ReportMetric(float64(b.N)/el.Seconds(), "writes/s")
			b.ReportMetric(float64(st.Writes-before.Writes)/float64(bt), "writes/batch")
			b.ReportMetric(float64((st.HoldTotal-before.HoldTotal).Microseconds())/float64(bt), "µs-held/batch")
			b.ReportMetric(float64((st.HoldTotal-before.HoldTotal))/float64(el), "writer-busy")
		})
	}
}
