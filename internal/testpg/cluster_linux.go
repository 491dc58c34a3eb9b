package testpg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// The cluster listens on a Unix socket in its own directory (mode 0700) and on no TCP
// port: nothing else on the machine can reach its trust authentication, and test
// binaries that run in parallel, each with a cluster, cannot collide over a port.

// dirPrefix starts the name of every cluster directory, so that a later run can find the
// ones a killed test binary left behind.
const dirPrefix = "scimdesk-testpg-"

// initdbGlob is where Debian installs initdb, one directory per major version, off PATH.
var initdbGlob = "/usr/lib/postgresql/*/bin/initdb"

// startupTimeout bounds initdb and the server's start; both take about a second.
const startupTimeout = 60 * time.Second

var local struct {
	once    sync.Once
	mu      sync.Mutex // guards the fields below against Stop
	url     string
	err     error
	dir     string
	proc    *os.Process
	exited  chan struct{} // closed when the postmaster has exited
	stopped bool
}

// startLocal starts this binary's cluster on first use and returns its admin URL.
func startLocal() (string, error) {
	local.once.Do(func() {
		local.mu.Lock()
		defer local.mu.Unlock()
		if local.stopped {
			local.err = errors.New("testpg: the cluster was stopped (Stop or Main); no test may ask for a database after it")
			return
		}
		local.url, local.err = start()
	})
	local.mu.Lock()
	defer local.mu.Unlock()
	return local.url, local.err
}

// start runs initdb and the postmaster; local.mu is held. When it fails it leaves nothing
// behind: no process, no directory.
func start() (u string, err error) {
	initdb, err := findInitdb()
	if err != nil {
		return "", err
	}
	cred, err := serverCredential()
	if err != nil {
		return "", err
	}
	removeStale(os.TempDir())
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return "", fmt.Errorf("testpg: %w", err)
	}
	// sun_path holds 108 bytes; PostgreSQL would say so only in its log.
	if socket := filepath.Join(dir, ".s.PGSQL.5432"); len(socket) > 107 {
		os.RemoveAll(dir)
		return "", fmt.Errorf("testpg: the socket path %s is too long for a Unix socket: set TMPDIR to a shorter directory", socket)
	}
	// The owner file lets a later run tell that this directory's binary is gone.
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("testpg: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("testpg: %w", err)
		}
	}
	local.dir = dir
	defer func() {
		if err != nil {
			if local.proc != nil {
				local.proc.Signal(syscall.SIGQUIT)
				<-local.exited
				local.proc = nil
			}
			os.RemoveAll(dir)
			local.dir = ""
		}
	}()
	log, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", fmt.Errorf("testpg: %w", err)
	}
	defer log.Close()

	data := filepath.Join(dir, "data")
	bin := filepath.Dir(initdb)
	initdbCmd := exec.Command(initdb, "--pgdata="+data, "--username=postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions")
	postgres := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", "5432",
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories="+dir,
		// Tests open pools, and packages run their tests in parallel.
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
		// fsync stays on: the benchmarks compare this cluster's writes with SQLite's, which syncs.
	)
	for _, cmd := range []*exec.Cmd{initdbCmd, postgres} {
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: cred,
			// SIGQUIT is PostgreSQL's immediate shutdown: the postmaster ends its backends and
			// removes its shared memory before it exits, where SIGKILL would leave that behind.
			Pdeathsig: syscall.SIGQUIT,
		}
	}

	started := make(chan error, 1)
	local.exited = make(chan struct{})
	go func() {
		// The kernel sends Pdeathsig when the thread that started the process exits, not
		// the process: this goroutine keeps that thread for as long as the postmaster runs
		// and never unlocks it, so the thread ends with the binary or after the postmaster.
		runtime.LockOSThread()
		defer close(local.exited)
		if err := runWithin(initdbCmd, startupTimeout); err != nil {
			started <- fmt.Errorf("testpg: %s: %w", initdb, err)
			return
		}
		if err := postgres.Start(); err != nil {
			started <- fmt.Errorf("testpg: starting %s: %w", postgres.Path, err)
			return
		}
		started <- nil
		postgres.Wait()
	}()
	if err := <-started; err != nil {
		return "", fmt.Errorf("%w%s", err, logTail(dir))
	}
	local.proc = postgres.Process

	u = (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres",
		RawQuery: url.Values{"host": {dir}, "sslmode": {"disable"}}.Encode()}).String()
	if err := waitReady(u, local.exited); err != nil {
		return "", fmt.Errorf("testpg: the cluster in %s did not start: %w%s", dir, err, logTail(dir))
	}
	return u, nil
}

// runWithin runs cmd and kills it if it has not finished within d.
func runWithin(cmd *exec.Cmd, d time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	timer := time.AfterFunc(d, func() { cmd.Process.Kill() })
	defer timer.Stop()
	return cmd.Wait()
}

// waitReady waits until the server at u takes connections, or exited is closed.
func waitReady(u string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startupTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, u)
		cancel()
		if err == nil {
			return conn.Close(context.Background())
		}
		select {
		case <-exited:
			return errors.New("the postmaster exited")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v: %w", startupTimeout, err)
		}
	}
}

// stopLocal stops the cluster with a fast shutdown, or kills it if that does not finish,
// and removes its directory.
func stopLocal() {
	local.mu.Lock()
	defer local.mu.Unlock()
	local.stopped = true
	if local.proc != nil {
		local.proc.Signal(syscall.SIGINT)
		select {
		case <-local.exited:
		case <-time.After(30 * time.Second):
			local.proc.Signal(syscall.SIGQUIT)
			<-local.exited
		}
		local.proc = nil
	}
	if local.dir != "" {
		os.RemoveAll(local.dir)
		local.dir = ""
	}
	local.url, local.err = "", errors.New("testpg: the cluster was stopped (Stop or Main); no test may ask for a database after it")
}

// findInitdb returns the initdb on PATH, or else the newest of Debian's.
func findInitdb() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob(initdbGlob)
	if len(found) == 0 {
		return "", fmt.Errorf("%w: %s is not set and no initdb was found (on PATH or %s) to start a throwaway cluster; on Debian: apt-get install postgresql", errUnavailable, EnvVar, initdbGlob)
	}
	sort.Slice(found, func(i, j int) bool { return majorVersion(found[i]) < majorVersion(found[j]) })
	return found[len(found)-1], nil
}

// majorVersion is the version directory of a path like /usr/lib/postgresql/15/bin/initdb.
func majorVersion(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// serverCredential is who the cluster runs as: this user, or, as root (which initdb and
// postgres refuse), the postgres user Debian's package creates.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root, and there is no postgres user to run initdb and postgres as (they refuse root): %v", errUnavailable, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("testpg: the postgres user has uid %q, gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// removeStale removes the cluster directories in parent whose test binary and postmaster
// are both gone: what a killed binary leaves (its postmaster dies with it). A directory
// without an owner file yet may be one that another binary is just setting up.
func removeStale(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*"))
	for _, dir := range dirs {
		owner, err := readPID(filepath.Join(dir, "owner"))
		if err != nil || alive(owner) {
			continue
		}
		if pm, err := readPID(filepath.Join(dir, "data", "postmaster.pid")); err == nil && alive(pm) {
			continue
		}
		os.RemoveAll(dir)
	}
}

// readPID reads the process ID on the first line of a file.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// alive reports whether process pid exists and is not a zombie (an exited process its
// new parent has not reaped yet).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may hold spaces.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// logTail is the end of the cluster's log, for the message when it fails.
func logTail(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "postgres.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\npostgres.log:\n" + string(b)
}
