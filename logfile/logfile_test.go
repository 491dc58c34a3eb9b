package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRotatesAtCap writes far more than the cap and checks that the files rotate at the
// cap, that the total on disk stays bounded, that the newest lines are in the live file
// and the older ones in .1, and that every file is mode 0600.
func TestRotatesAtCap(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "scimdesk.log")
	const maxBytes, files = 1 << 10, 3
	l, err := Open(path, maxBytes, files)
	if err != nil {
		t.Fatal(err)
	}
	const lines = 2000 // 2000 lines of 50 bytes: about 100 times the cap
	for i := range lines {
		fmt.Fprintf(l, "line %06d %s\n", i, strings.Repeat("x", 37))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var total int64
	for _, e := range entries {
		st, _ := os.Stat(filepath.Join(dir, e.Name()))
		total += st.Size()
		if st.Size() > maxBytes {
			t.Errorf("%s is %d bytes, over the cap of %d", e.Name(), st.Size(), maxBytes)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), st.Mode().Perm())
		}
	}
	if len(entries) != files {
		t.Errorf("%d files, want %d: %v", len(entries), files, entries)
	}
	if total > files*maxBytes {
		t.Errorf("%d bytes on disk, want at most %d", total, files*maxBytes)
	}
	live, _ := os.ReadFile(path)
	older, _ := os.ReadFile(path + ".1")
	if !strings.HasSuffix(string(live), fmt.Sprintf("line %06d %s\n", lines-1, strings.Repeat("x", 37))) {
		t.Errorf("the live file does not end with the last line:\n%s", live)
	}
	if len(older) == 0 || string(older) >= string(live) {
		t.Errorf(".1 does not hold the lines before the live file's")
	}
}

// TestReopenKeepsCounting reopens an existing log and checks that its size counts
// towards the cap.
func TestReopenKeepsCounting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scimdesk.log")
	if err := os.WriteFile(path, []byte(strings.Repeat("old\n", 250)), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, 1<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	l.Write([]byte(strings.Repeat("new\n", 10)))
	l.Close()
	if b, _ := os.ReadFile(path); string(b) != strings.Repeat("new\n", 10) {
		t.Errorf("the live file after reopening and writing past the cap: %q", b)
	}
	if b, _ := os.ReadFile(path + ".1"); len(b) != 1000 {
		t.Errorf(".1 has %d bytes, want the 1000 old ones", len(b))
	}
}
