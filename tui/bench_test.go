package tui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"scimdesk/internal/testpg"
	"sync"
	"testing"

	tea "charm.land/bubbletea/v2"

	"scimdesk/db"
)

// The benchmarks share one database of 100,000 users, made once per run.
var (
	bigOnce sync.Once
	bigDir  string
	bigPath string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	testpg.Stop() // the PostgreSQL cluster the tests may have started
	os.Exit(code)
}

// bigDB opens the shared database of 100,000 users (10% deactivated).
func bigDB(b *testing.B) *db.DB {
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scimdesk-bench-")
		if err != nil {
			b.Fatal(err)
		}
		bigDir, bigPath = dir, filepath.Join(dir, "scimdesk.db")
		d, err := db.Open(context.Background(), bigPath)
		if err != nil {
			b.Fatal(err)
		}
		seedUsers(b, d, 100_000, 10)
		d.Close()
	})
	d, err := db.Open(context.Background(), bigPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// runNow runs a Cmd and the Cmds of its batches synchronously and returns the messages.
// Only for Cmds that do not wait (the tabs' first reads), not ticks.
func runNow(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	m := cmd()
	if batch, ok := m.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range batch {
			out = append(out, runNow(c)...)
		}
		return out
	}
	return []tea.Msg{m}
}

// firstFrame builds the console over d and brings it to its first frame with data:
// every tab's first read and the first poll, then View.
func firstFrame(b *testing.B, d *db.DB) (*app, string) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	a := newApp(newDeps(ctx, Options{DB: d, Actor: "admin:bench"}))
	a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	a.active = 2 // the Users tab, the heaviest
	msgs := runNow(poll(a.d, 0, true))
	for _, t := range a.tabs {
		msgs = append(msgs, runNow(t.Init())...)
	}
	for _, m := range msgs {
		a.Update(m)
	}
	return a, a.View().Content
}

// BenchmarkFirstFrame is the time from building the console to its first frame with
// data, over 100,000 users (the issue asks for under 300 ms).
func BenchmarkFirstFrame(b *testing.B) {
	d := bigDB(b)
	b.ResetTimer()
	for b.Loop() {
		a, _ := firstFrame(b, d)
		if a.tabs[2].(*users).list.win.total != 100_000 {
			b.Fatal("the users did not load")
		}
	}
	// What a running console holds: its Go heap with one console alive, and the process's
	// resident memory (SQLite's page cache lives outside the Go heap).
	a, _ := firstFrame(b, d)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(a)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMB")
	b.ReportMetric(float64(rssBytes())/(1<<20), "rssMB")
}

// rssBytes is the process's resident memory, from /proc (0 where there is none).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	fmt.Sscan(string(b), &size, &resident)
	return resident * int64(os.Getpagesize())
}

// BenchmarkView is one frame of the Users tab over 100,000 users.
func BenchmarkView(b *testing.B) {
	d := bigDB(b)
	a, _ := firstFrame(b, d)
	b.ResetTimer()
	for b.Loop() {
		_ = a.View()
	}
}

// BenchmarkFilterQuery is one filter query (count and page) over 100,000 users: what a
// pause in typing costs, off the UI's goroutine.
func BenchmarkFilterQuery(b *testing.B) {
	d := bigDB(b)
	w, _ := db.UserQuery{Search: "user0999"}.Where()
	for b.Loop() {
		if _, n, err := d.ListUsers(context.Background(), w, db.Page{Desc: true, Limit: pageSize}); err != nil || n != 10 {
			b.Fatal(n, err)
		}
	}
}
