package tui

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"scimdesk/db"
)

// beater stands for a server instance in another process, on this host or another: it
// writes its heartbeat through the db API every 200 ms, as a server does, until stopped;
// a clean stop removes its row, as a stopping server does.
type beater struct {
	stop func()
}

func startBeating(t *testing.T, d *db.DB, h db.Heartbeat) *beater {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	beat := func() error {
		h.Beat = time.Now()
		return d.WriteHeartbeat(ctx, h)
	}
	if err := beat(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				beat()
			}
		}
	}()
	var once sync.Once
	b := &beater{stop: func() {
		once.Do(func() {
			cancel()
			<-done
			if err := d.ClearHeartbeat(context.Background(), h.Instance); err != nil {
				t.Error(err)
			}
		})
	}}
	t.Cleanup(b.stop)
	return b
}

// hasLine reports whether one line of scr holds every text.
func hasLine(scr string, texts ...string) bool {
	for l := range strings.SplitSeq(scr, "\n") {
		all := true
		for _, text := range texts {
			all = all && strings.Contains(l, text)
		}
		if all {
			return true
		}
	}
	return false
}

// TestFlowTabOneListsEveryInstance: two instances (on two hosts, as behind a load
// balancer) beat into one database; a console attached to them at 80x24 lists both on
// tab 1, one line each with host, pid, address, uptime, requests and the last request's
// age, shows their shared URL once and adds up their requests; when one stops, it leaves
// the list and the console is attached to the other alone.
func TestFlowTabOneListsEveryInstance(t *testing.T) {
	d := testDB(t)
	now := time.Now()
	const url = "https://scim.example.com"
	web1 := startBeating(t, d, db.Heartbeat{Instance: "web1", Host: "web-1.internal", PID: 4242, Addr: "10.0.0.1:8443", TLS: true,
		PublicURL: url, Started: now.Add(-3*time.Hour - 5*time.Minute), Requests: 1234, LastRequest: now.Add(-3 * time.Second),
		LastUserAgent: "Okta SCIM Client 1.0.0", Log: db.LogJournal})
	web2 := startBeating(t, d, db.Heartbeat{Instance: "web2", Host: "web-2.internal", PID: 977, Addr: "10.0.0.2:8443", TLS: true,
		PublicURL: url, Started: now.Add(-12 * time.Minute), Requests: 12, Log: db.LogJournal})
	_ = web1 // beats until the test ends

	s := startTerm(t, newApp(testDeps(t, d, Options{AttachedPID: 4242})), 80, 24)
	scr := s.waitScreen("attached to the 2 servers of this database", "web-1.internal", "web-2.internal", "1,246 served by 2 servers")
	for _, want := range [][]string{
		{"web-1.internal", "4242", "10.0.0.1:8443", "3h05m", "1,234", "s ago"},
		{"web-2.internal", "977", "10.0.0.2:8443", "12m", "12", "never"},
	} {
		if !hasLine(scr, want...) {
			t.Errorf("no line shows %q:\n%s", want, scr)
		}
	}
	if n := strings.Count(scr, url+"/scim/v2"); n != 1 {
		t.Errorf("the URL the instances share shows %d times, want once:\n%s", n, scr)
	}
	if !strings.Contains(scr, "server logs: one per server") {
		t.Errorf("the footer names one server's log although two serve:\n%s", scr)
	}

	web2.stop() // a clean stop: its row goes at once
	scr = s.waitScreen("attached to the server running in pid 4242 on web-1.internal, on", "1,234 served")
	if strings.Contains(scr, "web-2.internal") || strings.Contains(scr, "977") {
		t.Errorf("the stopped instance is still listed:\n%s", scr)
	}
	if strings.Contains(scr, "last req") {
		t.Errorf("the server table shows for one server:\n%s", scr)
	}
}

// TestProvisioningListsThisProcessAmongInstances: a console whose process serves, beside
// an instance in another process that gives another public URL, lists both servers with
// its own marked, lists both URLs naming who gives which with a warning, and copies its
// own.
func TestProvisioningListsThisProcessAmongInstances(t *testing.T) {
	d := testDB(t)
	srv := startServer(t, d)
	startBeating(t, d, db.Heartbeat{Instance: "web2", Host: "web-2.internal", PID: 977, Addr: "10.0.0.2:8443", TLS: true,
		PublicURL: "https://web-2.example.com/", Started: time.Now().Add(-time.Minute), Requests: 5})
	// The server beats as it starts serving: poll once both rows are in.
	for deadline := time.Now().Add(8 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if beats, err := d.ReadHeartbeats(context.Background()); err == nil && len(beats) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server in this process wrote no heartbeat")
		}
	}
	dp := testDeps(t, d, Options{Server: srv})
	p := newProvisioning(dp)
	dr := driveTab(t, p, 80, 40)
	dr.do(poll(dp, 0, true))
	v := plain(dr.waitText("listening on "+srv.Addr(), "last req", "web-2.internal", "› this process"))
	if !hasLine(v, "› "+db.ThisHost(), srv.Addr()) || !hasLine(v, "web-2.internal", "977", "10.0.0.2:8443") {
		t.Errorf("the table does not list this process's server and the other one:\n%s", v)
	}
	for _, want := range []string{srv.SCIMURL() + " (this process; c copies it)", "https://web-2.example.com/scim/v2 (pid 977 on web-2.internal)",
		"the servers give different URLs"} {
		if !strings.Contains(v, want) {
			t.Errorf("tab 1 lacks %q:\n%s", want, v)
		}
	}
	if !strings.Contains(v, "served by 2 servers") {
		t.Errorf("the requests are not added up over both servers:\n%s", v)
	}
	dr.key("c")
	dr.waitClipboard(srv.SCIMURL())

	// Narrower, the table's lines are cut, never wrapped: each server keeps one line
	// with its pid, none is wider than the tab, and down to 60 columns the uptime and
	// last request make way for the host and address.
	for _, w := range []int{120, 60, 40, 24} {
		p.SetSize(w, 60)
		v := plain(dr.view())
		rows := 0
		for _, l := range strings.Split(v, "\n") {
			if !strings.Contains(l, "977") && !strings.HasPrefix(strings.TrimSpace(l), "› ") && !strings.HasPrefix(l, "Servers") {
				continue
			}
			rows++
			if lw := ansi.StringWidth(l); lw > w {
				t.Errorf("at %d columns a line of the table is %d wide: %q", w, lw, l)
			}
		}
		if rows < 4 { // the heading, two servers, the mark's legend
			t.Errorf("at %d columns the table has %d lines:\n%s", w, rows, v)
		}
		if w >= 60 && !hasLine(v, "web-2.", "977", "10.0.0.2:8443") {
			t.Errorf("at %d columns the other server's line lacks its host, pid or address:\n%s", w, v)
		}
	}
}
