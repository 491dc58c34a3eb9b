package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeJSONLog runs `scimdesk serve --log-format json`, makes a request that fails,
// stops the server, and checks that every line it logged is a JSON object and that the
// failed request's line carries the id its response carried, without the token sent.
func TestServeJSONLog(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "json.db")
	addr := freeAddr(t)
	cmd := exec.Command(builtBinary(t), "serve", "--db", dbPath, "--addr", addr, "--log-format", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	const secret = "scim_notarealtokennotarealtokennotarealtoken"
	var id string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("serve did not come up")
		}
		req, _ := http.NewRequest("GET", "http://"+addr+"/scim/v2/Users", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("a wrong token: %s", res.Status)
		}
		id = res.Header.Get("X-Request-Id")
		break
	}
	if id == "" {
		t.Fatal("no X-Request-Id in the response")
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %v\n%s", err, line)
		}
		if rec["msg"] == "request failed" && rec["request_id"] == id && rec["status"] == float64(401) {
			found = true
		}
	}
	if !found {
		t.Errorf("no line for request %s in the log:\n%s", id, stderr.String())
	}
	if strings.Contains(stderr.String(), secret) {
		t.Error("the token is in the log")
	}
}
