package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// helpOf is what `scimdesk ARGS --help` prints, parsed with main's options.
func helpOf(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	exited := false
	parser, err := kong.New(&CLI{}, append(Options(), kong.Writers(&out, &out), kong.Exit(func(int) { exited = true }))...)
	if err != nil {
		t.Fatal(err)
	}
	parser.Parse(append(args, "--help"))
	if !exited {
		t.Fatalf("scimdesk %s --help did not end after the help", strings.Join(args, " "))
	}
	return out.String()
}

// TestUserCommandsHelpHidesDB: setup and recover run on a user's machine and open no
// database, so their help does not offer --db; the admin's commands still do, and setup
// still accepts --db (scripts written before keep working).
func TestUserCommandsHelpHidesDB(t *testing.T) {
	for _, c := range []struct {
		args   []string
		wantDB bool
	}{
		{[]string{"setup"}, false},
		{[]string{"recover"}, false},
		{[]string{"token", "create"}, true},
		{[]string{"users", "setup-code"}, true},
		{[]string{"serve"}, true},
	} {
		help := helpOf(t, c.args...)
		if !strings.Contains(help, "--server") && !c.wantDB {
			t.Errorf("scimdesk %s --help is not the command's help:\n%s", strings.Join(c.args, " "), help)
		}
		if got := strings.Contains(help, "--db"); got != c.wantDB {
			t.Errorf("scimdesk %s --help offers --db: %v, want %v:\n%s", strings.Join(c.args, " "), got, c.wantDB, help)
		}
	}
	// Hidden from one help, not from the next.
	if !strings.Contains(helpOf(t, "token", "list"), "--db") {
		t.Error("--db stays hidden after setup's help")
	}
	var cli CLI
	parser, err := kong.New(&cli, Options()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse([]string{"setup", "--db", "x.db", "--server", "https://scim.example.com"}); err != nil || cli.DB != "x.db" {
		t.Errorf("setup --db no longer parses: %v", err)
	}
}
