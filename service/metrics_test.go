package service

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"scimdesk/backup"
	"scimdesk/scimserver"
	"scimdesk/sshconsole"
)

// TestServiceRunsItsParts: with MetricsAddr and a backup schedule, the service serves
// /metrics on its own listener (requests to the SCIM server counted there, the probes not),
// takes the start-up backup, and stops them all with the SCIM server.
func TestServiceRunsItsParts(t *testing.T) {
	path := tempDB(t)
	d, secret := openDB(t, path)
	backups := t.TempDir()
	svc, logs := start(t, Config{DB: d, SCIM: scimserver.Config{Addr: "127.0.0.1:0"}, MetricsAddr: "127.0.0.1:0",
		Backups: &backup.Schedule{Dir: backups, Every: time.Hour, Keep: 2}})
	if svc.MetricsAddr() == "" || svc.MetricsAddr() == svc.SCIM().Addr() {
		t.Fatalf("metrics listen on %q, the SCIM server on %q: want a listener of its own", svc.MetricsAddr(), svc.SCIM().Addr())
	}
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(url, token string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	base := svc.SCIM().BaseURL()
	for range 3 {
		if st := get(base+"/scim/v2/Users", secret); st != http.StatusOK {
			t.Fatalf("GET /Users: %d", st)
		}
	}
	get(base+"/healthz", "")
	get(base+"/readyz", "")

	res, err := client.Get("http://" + svc.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	reqs := families["scimdesk_http_requests_total"]
	if reqs == nil {
		t.Fatal("no scimdesk_http_requests_total")
	}
	var users, probes float64
	for _, m := range reqs.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		switch {
		case labels["resource"] == "Users" && labels["method"] == "GET" && labels["code"] == "200":
			users += m.GetCounter().GetValue()
		case labels["resource"] != "Users":
			probes += m.GetCounter().GetValue()
		}
	}
	if users != 3 {
		t.Errorf("GET /Users 200 counted %v times, want 3", users)
	}
	if probes != 0 {
		t.Errorf("%v other requests counted: the probes must stay out of the request metrics", probes)
	}

	// The start-up backup (no backup in the directory yet) is taken while the service runs.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		files, err := (backup.Schedule{Dir: backups, Every: time.Hour, Keep: 2}).List(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backups in the directory, want the start-up one; log:\n%s", len(files), logs)
		}
	}
	if !strings.Contains(logs.String(), "metrics=http://"+svc.MetricsAddr()+"/metrics") {
		t.Errorf("the start line does not say where the metrics are; log:\n%s", logs)
	}
}

// TestMetricsPortInUse: a busy metrics port fails Listen, naming the flag, and leaves
// nothing bound (the SCIM port can be taken again at once).
func TestMetricsPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	d, _ := openDB(t, tempDB(t))
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scimAddr := free.Addr().String()
	free.Close()
	svc, err := New(Config{DB: d, SCIM: scimserver.Config{Addr: scimAddr}, MetricsAddr: busy.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Listen(); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Fatalf("Listen with the metrics port taken: %v, want an error naming --metrics-addr", err)
	}
	ln, err := net.Listen("tcp", scimAddr)
	if err != nil {
		t.Fatalf("the SCIM port stayed bound after the failed Listen: %v", err)
	}
	ln.Close()
}

// TestSCIMPortInUseUnbindsTheOthers: the SCIM port is bound last; when it is taken, the
// listeners bound before it (metrics, the SSH console) are closed again, so a restart
// with another --addr does not find its own ports taken.
func TestSCIMPortInUseUnbindsTheOthers(t *testing.T) {
	freeAddr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	d, _ := openDB(t, tempDB(t))
	metricsAddr, sshAddr := freeAddr(), freeAddr()
	keys := filepath.Join(t.TempDir(), "admins.pub")
	if err := os.WriteFile(keys, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{DB: d, SCIM: scimserver.Config{Addr: busy.Addr().String()}, MetricsAddr: metricsAddr,
		SSH: &sshconsole.Config{Addr: sshAddr, AuthorizedKeys: keys,
			Console: func(context.Context, sshconsole.Session) (tea.Model, error) {
				return nil, errors.New("no session in this test")
			}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Listen(); err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Fatalf("Listen with the SCIM port taken: %v, want an error naming --addr", err)
	}
	for name, addr := range map[string]string{"metrics": metricsAddr, "SSH": sshAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("the %s port stayed bound after the failed Listen: %v", name, err)
			continue
		}
		ln.Close()
	}
}
