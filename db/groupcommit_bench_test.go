package db

import (
	"context"
	"fmt"
	"path/filepath"
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
			b.ResetTimer()
			start := time.Now()
			before := d.WriterStats()
			writeConcurrently(b, d, 32, func(tx *Tx, i int64) error {
				u := User{ID: fmt.Sprintf("id-%d-%d", b.N, i), UserName: fmt.Sprintf("u%d-%d@x", b.N, i), Active: true, Doc: []byte(`{}`)}
				if err := tx.InsertUser(ctx, &u); err != nil {
					return err
				}
				return tx.InsertEvent(ctx, Event{Kind: "user.create", Subject: u.UserName, Status: 201})
			})
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
