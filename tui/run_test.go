package tui

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// The OS user in the audit log is the name, bounded and free of control characters ($USER
// is whatever the environment says), or the uid when there is none.
func TestOSUser(t *testing.T) {
	uid := strconv.Itoa(os.Getuid())
	for user, want := range map[string]string{
		"alice":                     "alice",
		"":                          uid,
		"eve\x1b]52;c;aGk=\x07":     "eve�]52;c;aGk=�",
		"bad\xffutf8":               "bad�utf8",
		strings.Repeat("x", 40):     strings.Repeat("x", 31) + "…",
		"tab\there\nnewline\u009b2": "tab�here�newline�2",
	} {
		t.Setenv("USER", user)
		if got := OSUser(); got != want {
			t.Errorf("USER=%q: OSUser() = %q, want %q", user, got, want)
		}
		if got := LocalActor(); got != "local:"+want {
			t.Errorf("USER=%q: LocalActor() = %q", user, got)
		}
	}
}
