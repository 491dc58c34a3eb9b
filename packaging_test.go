package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scimdesk/internal/testtool"
)

// TestVersionStamp: a release build stamps its version with the linker (.goreleaser.yaml,
// .ci/run, deploy/Dockerfile all use -X scimdesk/cli.version=...), and --version says it.
// The binary the tests run is stamped the same way.
func TestVersionStamp(t *testing.T) {
	out := run(t, "--version")
	if strings.TrimSpace(out) != "scimdesk "+stampedVersion {
		t.Fatalf("--version printed %q, want %q: the linker stamp no longer reaches the version", out, "scimdesk "+stampedVersion)
	}
	for _, file := range []string{".goreleaser.yaml", "deploy/Dockerfile", ".ci/run"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("-X scimdesk/cli.version=")) {
			t.Errorf("%s does not stamp the version with -X scimdesk/cli.version=", file)
		}
	}
}

// unitDirectives reads a systemd unit file into section.key -> values.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// TestSystemdUnit checks deploy/scimdesk.service with systemd's own verifier (every
// directive known and well-formed, the command runnable) and that the hardening the README
// promises is there; and that the serve arguments in deploy/scimdesk.env are flags the
// binary takes.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testtool.SkipUnlessCI(t, "systemd-analyze is not installed, and the unit file is checked with it (.ci/run installs it; on Debian: apt-get install systemd)")
	}
	bin := builtBinary(t)
	d := unitDirectives(t, "deploy/scimdesk.service")
	want := map[string]string{
		"Service.User":                  "scimdesk",
		"Service.StateDirectory":        "scimdesk",
		"Service.StateDirectoryMode":    "0700",
		"Service.UMask":                 "0077",
		"Service.ProtectSystem":         "strict",
		"Service.ProtectHome":           "yes",
		"Service.NoNewPrivileges":       "yes",
		"Service.AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
		"Service.CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"Service.Restart":               "on-failure",
		"Service.Environment":           "SCIMDESK_DB=/var/lib/scimdesk/scimdesk.db",
		"Install.WantedBy":              "multi-user.target",
	}
	for k, v := range want {
		if got := d[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	exec0 := d["Service.ExecStart"]
	if len(exec0) != 1 || !strings.HasPrefix(exec0[0], "/usr/local/bin/scimdesk serve ") {
		t.Fatalf("ExecStart = %q, want /usr/local/bin/scimdesk serve ...", exec0)
	}

	// verify checks that the command exists and is executable: point it at the binary
	// under test. Anything it prints is a problem it found (it exits 0 on ignored lines).
	unit, err := os.ReadFile("deploy/scimdesk.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "scimdesk.service")
	unit = bytes.ReplaceAll(unit, []byte("/usr/local/bin/scimdesk"), []byte(bin))
	if err := os.WriteFile(copyPath, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, analyze, "verify", copyPath)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The arguments the unit passes come from the env file: the binary must take them.
	env := unitDirectives(t, "deploy/scimdesk.env")[".SCIMDESK_SERVE_ARGS"]
	if len(env) != 1 {
		t.Fatalf("deploy/scimdesk.env sets SCIMDESK_SERVE_ARGS %d times, want once", len(env))
	}
	args := append([]string{"serve"}, strings.Fields(env[0])...)
	help := exec.Command(bin, append(args, "--help")...)
	if out, err := help.CombinedOutput(); err != nil {
		t.Errorf("scimdesk %s --help: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// dockerInstruction is one instruction of a Dockerfile, continuation lines joined.
type dockerInstruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// parseDockerfile splits a Dockerfile into instructions (comments and blank lines gone,
// backslash continuations joined), enough for the checks below.
func parseDockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "#") || (trim == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trim, "\\") {
			cur.WriteString(strings.TrimSuffix(trim, "\\") + " ")
			continue
		}
		cur.WriteString(trim)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends in a continuation line", path)
	}
	return out
}

// TestDockerfile lints deploy/Dockerfile for what the README promises of the image: a
// cgo-free static build, a final image that runs as a non-root user, the database in a
// volume, and a HEALTHCHECK that uses `scimdesk health` (exec form: the image has no
// shell). Where a container daemon answers it is also built.
func TestDockerfile(t *testing.T) {
	known := map[string]bool{"FROM": true, "WORKDIR": true, "COPY": true, "RUN": true, "ARG": true, "USER": true,
		"ENV": true, "VOLUME": true, "EXPOSE": true, "HEALTHCHECK": true, "ENTRYPOINT": true, "CMD": true}
	ins := parseDockerfile(t, "deploy/Dockerfile")
	last := -1
	for i, in := range ins {
		if !known[in.cmd] {
			t.Errorf("unknown or misspelt instruction %q", in.cmd)
		}
		if in.cmd == "FROM" {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("no FROM")
	}
	var build, final []dockerInstruction = ins[:last], ins[last:]
	if !strings.HasPrefix(final[0].args, "scratch") {
		t.Errorf("final stage FROM %s, want scratch (a static binary needs no base)", final[0].args)
	}
	staticBuild := false
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0 go build") {
			staticBuild = true
		}
	}
	if !staticBuild {
		t.Error("the build stage does not build with CGO_ENABLED=0")
	}
	got := map[string]string{}
	for _, in := range final {
		got[in.cmd] = in.args
	}
	if u := got["USER"]; u == "" || u == "root" || strings.HasPrefix(u, "0") {
		t.Errorf("final stage USER %q: the image must not run as root", u)
	}
	if !strings.Contains(got["ENV"], "SCIMDESK_DB=/data/") || !strings.Contains(got["VOLUME"], `"/data"`) {
		t.Errorf("the database (ENV %q) is not in the /data volume (VOLUME %q)", got["ENV"], got["VOLUME"])
	}
	if hc := got["HEALTHCHECK"]; !strings.Contains(hc, `CMD ["/scimdesk", "health"`) {
		t.Errorf("HEALTHCHECK %q, want the exec form of /scimdesk health", hc)
	}
	if ep := got["ENTRYPOINT"]; ep != `["/scimdesk"]` {
		t.Errorf("ENTRYPOINT %q, want [\"/scimdesk\"]", ep)
	}

	docker, err := exec.LookPath("docker")
	if err != nil || exec.Command(docker, "info").Run() != nil {
		t.Log("deploy/Dockerfile linted, not built: no container daemon answers here")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tag := "scimdesk-test:" + stampedVersion
	b := exec.CommandContext(ctx, docker, "build", "-f", "deploy/Dockerfile", "--build-arg", "VERSION="+stampedVersion, "-t", tag, ".")
	if out, err := b.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	defer exec.Command(docker, "rmi", tag).Run()
	out, err := exec.CommandContext(ctx, docker, "run", "--rm", tag, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "scimdesk "+stampedVersion {
		t.Errorf("the image's --version: %v %q", err, out)
	}
}

// TestHealthCommand runs `scimdesk health` as a container HEALTHCHECK would: it finds the
// server of the database by its heartbeat and asks it, over HTTP and over HTTPS (with the
// public URL's name for SNI), and fails once the server is gone.
func TestHealthCommand(t *testing.T) {
	bin := builtBinary(t)
	health := func(dbPath string, args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"health", "--db", dbPath}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Run("http", func(t *testing.T) {
		e := startE2E(t, t.TempDir(), "")
		out, err := health(e.dbPath)
		if err != nil || !strings.HasPrefix(out, "healthy: http://127.0.0.1:") || !strings.Contains(out, "/healthz") {
			t.Fatalf("health against a serving server: %v %q", err, out)
		}
	})
	t.Run("https", func(t *testing.T) {
		dir := t.TempDir()
		caFile, certFile, keyFile := makeCA(t, dir)
		e := startE2E(t, dir, caFile, "--tls-cert", certFile, "--tls-key", keyFile)
		out, err := health(e.dbPath)
		if err != nil || !strings.HasPrefix(out, "healthy: https://127.0.0.1:") {
			t.Fatalf("health against an HTTPS server: %v %q", err, out)
		}
	})
	t.Run("stopped", func(t *testing.T) {
		dbPath := filepath.Join(t.TempDir(), "stopped.db")
		createDB(t, dbPath)
		out, err := health(dbPath)
		if err == nil || !strings.Contains(out, "unhealthy: no server is serving") {
			t.Fatalf("health with no server: %v %q, want exit 1 and a reason", err, out)
		}
		// Nor does scim status hand out a made-up URL while nothing serves.
		if st := run(t, "scim", "status", "--db", dbPath); !strings.Contains(st, "SCIM URL: unknown while no server runs") || strings.Contains(st, "127.0.0.1") {
			t.Errorf("scim status with no server shows a URL to paste:\n%s", st)
		}
		out, err = health(dbPath, "--url", "http://"+freeAddr(t)+"/healthz", "--timeout", "2s")
		if err == nil || !strings.Contains(out, "unhealthy:") {
			t.Fatalf("health --url at a closed port: %v %q, want exit 1", err, out)
		}
	})
}
