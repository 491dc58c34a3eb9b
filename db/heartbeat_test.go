package db

import (
	"context"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// beatRows counts the rows of the heartbeats table, fresh or not.
func beatRows(t *testing.T, d *DB) int {
	t.Helper()
	var n int
	if err := d.rc.QueryRowContext(context.Background(), `SELECT count(*) FROM heartbeats`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// instances returns the instance ids of beats, in order.
func instances(beats []Heartbeat) []string {
	var ids []string
	for _, h := range beats {
		ids = append(ids, h.Instance)
	}
	return ids
}

// TestHeartbeatsOfSeveralInstances: instances beating into one database each keep a row
// of their own, read back whole, the longest running first; a beat replaces only its own
// instance's row; a row older than StaleBeat is not read; a row not beating for a day is
// deleted by the next beat of any instance; a cleared row is gone at once.
func TestHeartbeatsOfSeveralInstances(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond).UTC()
	if beats, err := d.ReadHeartbeats(ctx); err != nil || len(beats) != 0 {
		t.Fatalf("no server yet: %v %v", beats, err)
	}
	a := Heartbeat{Instance: "a", Host: "web-1", PID: 101, Addr: "0.0.0.0:8443", TLS: true, PublicURL: "https://scim.example.com",
		Started: now.Add(-time.Hour), Beat: now, Requests: 7, LastRequest: now.Add(-time.Second), LastUserAgent: "Okta SCIM Client",
		Log: LogJournal, SSHAddr: "[::]:2222", SSHHostKey: "SHA256:abc"}
	b := Heartbeat{Instance: "b", Host: "web-2", PID: 101, Addr: "10.0.0.2:8443", PublicURL: "https://scim.example.com",
		Started: now.Add(-time.Minute), Beat: now, Log: "/var/log/scimdesk.log"}
	for _, h := range []Heartbeat{b, a} {
		if err := d.WriteHeartbeat(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	beats, err := d.ReadHeartbeats(ctx)
	if err != nil || !reflect.DeepEqual(beats, []Heartbeat{a, b}) {
		t.Fatalf("two instances, the longest running first:\n got %+v (%v)\nwant %+v", beats, err, []Heartbeat{a, b})
	}

	// A's next beat replaces A's row alone.
	a.Beat, a.Requests = now.Add(time.Second), 9
	if err := d.WriteHeartbeat(ctx, a); err != nil {
		t.Fatal(err)
	}
	if beats, _ = d.ReadHeartbeats(ctx); !reflect.DeepEqual(beats, []Heartbeat{a, b}) {
		t.Errorf("after A beat again: %+v", beats)
	}

	// Stale: C stopped beating a moment ago (killed), D just within the limit.
	c := Heartbeat{Instance: "c", Host: "web-3", PID: 3, Started: now.Add(-2 * time.Hour), Beat: now.Add(-StaleBeat - time.Second)}
	dd := Heartbeat{Instance: "d", Host: "web-4", PID: 4, Started: now.Add(-2 * time.Hour), Beat: now.Add(-StaleBeat + 2*time.Second)}
	for _, h := range []Heartbeat{c, dd} {
		if err := d.WriteHeartbeat(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if beats, _ = d.ReadHeartbeats(ctx); !reflect.DeepEqual(instances(beats), []string{"d", "a", "b"}) {
		t.Errorf("with a stale C and a fresh D: %v, want d a b", instances(beats))
	}
	if n := beatRows(t, d); n != 4 {
		t.Errorf("%d rows: a stale row is kept (for a day), want 4", n)
	}

	// Pruning: E stopped beating over a day ago, F just under; B's next beat deletes E.
	e := Heartbeat{Instance: "e", Host: "web-5", PID: 5, Beat: now.Add(-pruneBeats - time.Minute)}
	f := Heartbeat{Instance: "f", Host: "web-6", PID: 6, Beat: now.Add(-pruneBeats + time.Minute)}
	if err := d.Write(ctx, func(tx *Tx) error {
		for _, h := range []Heartbeat{e, f} {
			if _, err := tx.q.ExecContext(ctx, `INSERT INTO heartbeats (id, host, pid, addr, public_url, tls, started_at, beat_at, requests)
				VALUES (?, ?, ?, '', '', 0, 0, ?, 0)`, h.Instance, h.Host, h.PID, ms(h.Beat)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteHeartbeat(ctx, b); err != nil {
		t.Fatal(err)
	}
	var kept []string
	rows, err := d.rc.QueryContext(ctx, `SELECT id FROM heartbeats ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		kept = append(kept, id)
	}
	rows.Close()
	if !reflect.DeepEqual(kept, []string{"a", "b", "c", "d", "f"}) {
		t.Errorf("after a beat, the rows %v; want e, a day without a beat, pruned and the rest kept", kept)
	}

	// A clean stop removes the instance's row at once, and only its own.
	if err := d.ClearHeartbeat(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if beats, _ = d.ReadHeartbeats(ctx); !reflect.DeepEqual(instances(beats), []string{"d", "b"}) {
		t.Errorf("after A stopped: %v, want d b", instances(beats))
	}

	if err := d.WriteHeartbeat(ctx, Heartbeat{PID: 1, Beat: now}); err == nil {
		t.Error("a heartbeat without an instance id was written")
	}
}

// TestHeartbeatLiveAndServing: this process's own heartbeat is never another server's; a
// process on this host that has stopped is not live even with a fresh beat, and one on
// another host cannot be asked so a fresh beat counts; Serving prefers this host's.
func TestHeartbeatLiveAndServing(t *testing.T) {
	now := time.Now()
	if runtime.GOOS == "windows" {
		t.Skip("no way to ask whether a pid runs on Windows: a fresh beat counts there")
	}
	// A pid that runs on this host, not ours (the process that started the test), and one
	// that ran and exited (this test binary, running no test).
	running := os.Getppid()
	dead := exec.Command(os.Args[0], "-test.run=^$")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}

	own := Heartbeat{Instance: "own", Host: ThisHost(), PID: os.Getpid(), Beat: now}
	here := Heartbeat{Instance: "here", Host: ThisHost(), PID: running, Beat: now}
	killed := Heartbeat{Instance: "killed", Host: ThisHost(), PID: dead.Process.Pid, Beat: now}
	remote := Heartbeat{Instance: "remote", Host: ThisHost() + "-other", PID: dead.Process.Pid, Beat: now}
	stale := Heartbeat{Instance: "stale", Host: ThisHost(), PID: running, Beat: now.Add(-StaleBeat)}
	for _, c := range []struct {
		h    Heartbeat
		live bool
	}{{own, false}, {here, true}, {killed, false}, {remote, true}, {stale, false}} {
		if got := c.h.Live(now); got != c.live {
			t.Errorf("%s: Live %v, want %v", c.h.Instance, got, c.live)
		}
	}
	if !own.ThisProcess() || here.ThisProcess() || (Heartbeat{Host: "elsewhere", PID: os.Getpid()}).ThisProcess() {
		t.Error("ThisProcess does not tell this process by host and pid")
	}
	for _, c := range []struct {
		beats []Heartbeat
		want  string
	}{
		{[]Heartbeat{own, killed, stale}, ""},
		{[]Heartbeat{remote, here}, "here"},
		{[]Heartbeat{own, remote}, "remote"},
	} {
		h, ok := Serving(c.beats, now)
		if c.want == "" && ok || c.want != "" && h.Instance != c.want {
			t.Errorf("Serving(%v) = %q %v, want %q", instances(c.beats), h.Instance, ok, c.want)
		}
	}
}
