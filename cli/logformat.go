package cli

import (
	"fmt"
	"io"
	"log/slog"
)

// newLogger makes the server's logger in the format --log-format names: "text" (slog's
// key=value lines, the default) or "json" (one object per line, for log collectors).
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("unknown log format %q (want text or json)", format)
}
