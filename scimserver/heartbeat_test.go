package scimserver

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"scimdesk/db"
)

// TestServersBeatAsInstances runs two real servers over one database, as two instances
// behind a load balancer: each writes a heartbeat of its own (its own instance id, this
// host, this pid, its own address), and one that stops cleanly removes its row at once
// while the other's stays.
func TestServersBeatAsInstances(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "scim.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	type running struct {
		srv  *Server
		stop context.CancelFunc
		done chan error
	}
	var servers []running
	for range 2 {
		srv := New(d, Config{Addr: "127.0.0.1:0", HeartbeatEvery: time.Hour, Log: db.LogStderr})
		if err := srv.Listen(); err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- srv.Serve(sctx) }()
		servers = append(servers, running{srv, cancel, done})
	}
	defer func() {
		for _, r := range servers {
			r.stop()
			<-r.done
		}
	}()
	addrs := func(beats []db.Heartbeat) []string {
		var out []string
		for _, h := range beats {
			out = append(out, h.Addr)
		}
		slices.Sort(out)
		return out
	}
	want := []string{servers[0].srv.Addr(), servers[1].srv.Addr()}
	slices.Sort(want)
	var beats []db.Heartbeat
	// Each server beats as it starts serving.
	for deadline := time.Now().Add(8 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if beats, err = d.ReadHeartbeats(ctx); err == nil && slices.Equal(addrs(beats), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeats %+v (%v), want one per server on %v", beats, err, want)
		}
	}
	if beats[0].Instance == beats[1].Instance || beats[0].Instance == "" {
		t.Errorf("the servers share the instance id %q", beats[0].Instance)
	}
	for _, h := range beats {
		if h.Host != db.ThisHost() || !h.ThisProcess() || h.Log != db.LogStderr || h.Started.IsZero() {
			t.Errorf("heartbeat %+v: want this host and process, its log and start", h)
		}
	}

	servers[0].stop()
	if err := <-servers[0].done; err != nil {
		t.Fatal(err)
	}
	servers = servers[1:]
	// Cleared as Serve returned: no waiting for the beat to go stale.
	beats, err = d.ReadHeartbeats(ctx)
	if err != nil || !slices.Equal(addrs(beats), []string{servers[0].srv.Addr()}) {
		t.Errorf("after one server stopped: %+v (%v), want only the other's", beats, err)
	}
}
