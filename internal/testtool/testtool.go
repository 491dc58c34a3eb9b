// Package testtool holds what the tests of several packages need to decide whether a test
// can run here: a test that cannot must never leave CI green without having run.
package testtool

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// SkipUnlessCI skips a test that cannot run here, saying why; under CI (CI set, as .ci/run
// runs) it fails instead, so that CI never goes green with a test it did not run.
func SkipUnlessCI(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run this test, but it cannot: %s", why)
	}
	t.Skip(why)
}

// NeedTmux returns tmux's path, or skips (fails under CI) when tmux is missing.
func NeedTmux(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("tmux")
	if err != nil {
		SkipUnlessCI(t, "tmux is not installed, and this end-to-end test runs the real binary in a terminal it provides (.ci/run installs it; on Debian: apt-get install tmux)")
	}
	return path
}

// SyncBuffer is a bytes.Buffer that a logger's goroutines and the test may use at once:
// where a test reads what a server logged while it runs.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
