package db

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSustainedWrites writes users from 8 goroutines, with readers beside them, and
// reports the WAL's peak and final size and the writer's longest hold, for FULL (what
// scimdesk uses) and NORMAL synchronous, so that the cost of FULL is measured rather than
// guessed:
//
//	go test -run '^$' -bench SustainedWrites -benchtime 30s ./db/
func BenchmarkSustainedWrites(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+sync, func(b *testing.B) { sustainedWrites(b, sync) })
	}
}

func sustainedWrites(b *testing.B, synchronous string) {
	path := filepath.Join(b.TempDir(), "bench.db")
	d, err := Open(context.Background(), path, func(o *options) { o.synchronous = synchronous })
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > peak.Load() {
					peak.Store(fi.Size())
				}
				d.ListUsers(ctx, Where{}, Page{Limit: 20}) // a reader holding a snapshot
			}
		}
	}()
	b.ResetTimer()
	writeConcurrently(b, d, 8, func(tx *Tx, i int64) error {
		u := User{ID: fmt.Sprint("b", i), UserName: fmt.Sprint("bench-", i), Active: true,
			Doc: []byte(`{"name":{"givenName":"Bench","familyName":"User"},"emails":[{"value":"bench@example.com","type":"work"}]}`)}
		return tx.InsertUser(ctx, &u)
	})
	b.StopTimer()
	close(stop)
	final := int64(0)
	if fi, err := os.Stat(path + "-wal"); err == nil {
		final = fi.Size()
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-WAL-MiB")
	b.ReportMetric(float64(final)/(1<<20), "end-WAL-MiB")
	b.ReportMetric(float64(d.WriterStats().LongestHold.Microseconds())/1000, "longest-hold-ms")
}

// writeConcurrently runs b.N writes of fn (given 1 … b.N) from goroutines at once, each
// taking the next number, and returns when all are done; a failed write fails b.
func writeConcurrently(b *testing.B, d *DB, goroutines int, fn func(tx *Tx, i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := d.Write(context.Background(), func(tx *Tx) error { return fn(tx, i) }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
