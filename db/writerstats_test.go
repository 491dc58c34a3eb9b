package db

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestWriterStatsSeesAStalledWriter holds the writer inside one write, as a hung disk
// would, and checks that the writes queued behind it show in WriterStats with their age,
// and that the queue reads empty again once the writer moves.
func TestWriterStatsSeesAStalledWriter(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		d, _ := st.open(t)
		ctx := context.Background()
		if err := d.ProbeWrite(ctx); err != nil {
			t.Fatalf("ProbeWrite on a healthy database: %v", err)
		}
		if s := d.WriterStats(); s.Waiting != 0 || s.OldestWait != 0 {
			t.Fatalf("idle writer: %+v, want nothing waiting", s)
		}
		held, release := make(chan struct{}), make(chan struct{})
		hold := sync.OnceFunc(func() { close(held) }) // a write may run twice (see Write)
		go d.Write(ctx, func(tx *Tx) error {
			hold()
			<-release
			return nil
		})
		<-held
		probed := make(chan error, 1)
		go func() { probed <- d.ProbeWrite(ctx) }()
		// The probe queues behind the held write; wait until the queue shows it.
		deadline := time.Now().Add(10 * time.Second)
		var s WriterStats
		for {
			if s = d.WriterStats(); s.Waiting == 1 && s.OldestWait > 0 {
				break
			}
			if time.Now().After(deadline) {
				close(release)
				t.Fatalf("a write queued behind a held writer never showed: %+v", s)
			}
			time.Sleep(time.Millisecond)
		}
		// A probe with a deadline gives up on a stalled writer instead of hanging.
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		err := d.ProbeWrite(short)
		cancel()
		if err == nil {
			t.Error("ProbeWrite behind a held writer succeeded before its deadline")
		}
		close(release)
		if err := <-probed; err != nil {
			t.Fatalf("queued probe after the writer moved: %v", err)
		}
		if s := d.WriterStats(); s.Waiting != 0 || s.OldestWait != 0 {
			t.Errorf("after the writer moved: %+v, want nothing waiting", s)
		}
	})
}
