package testpg

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"scimdesk/internal/testtool"
)

// TestHelperCluster is not a test: it is the helper run of this binary that starts its
// own cluster and prints the postmaster's PID and the cluster's directory. With
// TESTPG_HELPER=wait it then waits until its standard input closes, to be killed.
func TestHelperCluster(t *testing.T) {
	mode := os.Getenv("TESTPG_HELPER")
	if mode != "cluster" && mode != "wait" {
		t.Skip("a helper for other tests")
	}
	DSN(t)
	local.mu.Lock()
	fmt.Printf("cluster %d %s\n", local.proc.Pid, local.dir)
	local.mu.Unlock()
	if mode == "wait" {
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
}

// startHelper runs TestHelperCluster in a new process with its own cluster, whatever
// server this run was given, and returns the postmaster's PID and the cluster's directory.
func startHelper(t *testing.T, mode string) (cmd *exec.Cmd, postmaster int, dir string) {
	t.Helper()
	if _, err := findInitdb(); err != nil {
		testtool.SkipUnlessCI(t, err.Error())
	}
	cmd = exec.Command(os.Args[0], "-test.run=^TestHelperCluster$", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvVar+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TESTPG_HELPER="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewScanner(stdout)
	for out.Scan() {
		if _, err := fmt.Sscanf(out.Text(), "cluster %d %s", &postmaster, &dir); err == nil {
			go func() { // keep draining, so that the helper never blocks on a full pipe
				for out.Scan() {
				}
			}()
			// Whatever the test finds, it leaves no cluster behind.
			t.Cleanup(func() {
				if alive(postmaster) {
					syscall.Kill(postmaster, syscall.SIGQUIT)
					for i := 0; i < 500 && alive(postmaster); i++ {
						time.Sleep(20 * time.Millisecond)
					}
				}
				os.RemoveAll(dir)
			})
			return cmd, postmaster, dir
		}
	}
	cmd.Wait()
	t.Fatalf("the helper printed no cluster:\n%s", stderr.String())
	return nil, 0, ""
}

// children lists the processes whose parent is pid: the postmaster's backends and workers.
func children(t *testing.T, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			kids = append(kids, n)
		}
	}
	return kids
}

// waitGone waits until none of pids is alive, or fails the test after a generous bound
// (PostgreSQL's immediate shutdown gives its backends five seconds before it kills them).
func waitGone(t *testing.T, what string, pids []int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: process %d is still running", what, pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestMainStopsTheClusterAndRemovesItsDirectory(t *testing.T) {
	cmd, postmaster, dir := startHelper(t, "cluster")
	kids := children(t, postmaster)
	if len(kids) == 0 {
		t.Fatalf("the postmaster %d has no children: not the process we think", postmaster)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the helper failed: %v", err)
	}
	// Main has returned only after the shutdown: nothing may be left already.
	for _, pid := range append(kids, postmaster) {
		if alive(pid) {
			t.Errorf("process %d of the cluster outlived the test binary", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cluster's directory %s is still there (%v)", dir, err)
	}
}

func TestClusterDiesWithAKilledTestBinary(t *testing.T) {
	cmd, postmaster, dir := startHelper(t, "wait")
	kids := children(t, postmaster)
	if len(kids) == 0 {
		t.Fatalf("the postmaster %d has no children: not the process we think", postmaster)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitGone(t, "after the test binary was killed", append(kids, postmaster))

	// The directory stays behind, and the next cluster's start removes it.
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Fatalf("the killed binary's cluster directory: %v", err)
	}
	removeStale(filepath.Dir(dir))
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory %s of a dead cluster is still there (%v)", dir, err)
	}
}

func TestRemoveStaleKeepsDirectoriesInUse(t *testing.T) {
	parent := t.TempDir()
	mk := func(name, owner, postmaster string) string {
		dir := filepath.Join(parent, dirPrefix+name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			os.WriteFile(filepath.Join(dir, "owner"), []byte(owner), 0o600)
		}
		if postmaster != "" {
			os.WriteFile(filepath.Join(dir, "data", "postmaster.pid"), []byte(postmaster+"\n/tmp/x\n"), 0o600)
		}
		return dir
	}
	// A process that has exited: this test binary's child, reaped.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(gone.Process.Pid)
	me := strconv.Itoa(os.Getpid())
	keep := []string{
		mk("setting-up", "", ""),         // no owner yet: another binary is making it
		mk("owner-alive", me, ""),        // its binary runs
		mk("postmaster-alive", dead, me), // its server runs
	}
	other := filepath.Join(parent, "not-ours")
	os.MkdirAll(other, 0o700)
	os.WriteFile(filepath.Join(other, "owner"), []byte(dead), 0o600)
	stale := mk("stale", dead, dead)
	staleNoServer := mk("stale-no-server", dead, "")

	removeStale(parent)
	for _, d := range append(keep, other) {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(d), err)
		}
	}
	for _, d := range []string{stale, staleNoServer} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was kept", filepath.Base(d))
		}
	}
}

func TestServerThatSaysNothingFailsWithinTheTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // held open, never answered
		}
	}()
	defer func(d time.Duration) { connectTimeout = d }(connectTimeout)
	connectTimeout = 300 * time.Millisecond
	server := "postgres://postgres@" + ln.Addr().String() + "/postgres?sslmode=disable"
	t.Setenv(EnvVar, server)

	admin, err := serverURL()
	if err != nil {
		t.Fatal(err)
	}
	_, err = createDatabase(admin, "t_silent")
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") || !strings.Contains(err.Error(), EnvVar+"="+server) {
		t.Fatalf("a server that never answers gave %v", err)
	}
}

func TestFindInitdb(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9", "16", "15"} {
		bin := filepath.Join(root, v, "bin")
		os.MkdirAll(bin, 0o755)
		os.WriteFile(filepath.Join(bin, "initdb"), []byte("#!/bin/sh\n"), 0o755)
	}
	defer func(g string) { initdbGlob = g }(initdbGlob)
	t.Setenv("PATH", t.TempDir())

	initdbGlob = filepath.Join(root, "*", "bin", "initdb")
	if got, err := findInitdb(); err != nil || got != filepath.Join(root, "16", "bin", "initdb") {
		t.Errorf("with versions 9, 15 and 16, findInitdb = %s, %v; want 16's", got, err)
	}

	onPath := filepath.Join(root, "9", "bin")
	t.Setenv("PATH", onPath)
	if got, err := findInitdb(); err != nil || got != filepath.Join(onPath, "initdb") {
		t.Errorf("with an initdb on PATH, findInitdb = %s, %v; want PATH's", got, err)
	}

	t.Setenv("PATH", t.TempDir())
	initdbGlob = filepath.Join(t.TempDir(), "*", "bin", "initdb")
	_, err := findInitdb()
	if !errors.Is(err, errUnavailable) || !strings.Contains(err.Error(), "apt-get install postgresql") || !strings.Contains(err.Error(), EnvVar) {
		t.Errorf("without initdb: %v; want a reason to skip that says what to do", err)
	}
}
