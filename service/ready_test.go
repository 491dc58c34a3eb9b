package service

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/scimserver"
)

// TestReadyzSeesAStalledWriter holds the database writer, as a hung disk would, and
// checks that /readyz says so once a write has waited past StallAfter, and recovers.
func TestReadyzSeesAStalledWriter(t *testing.T) {
	d, _ := openDB(t, tempDB(t))
	svc, _ := start(t, Config{
		DB:     d,
		SCIM:   scimserver.Config{Addr: "127.0.0.1:0", HeartbeatEvery: time.Hour},
		Health: Health{ProbeEvery: time.Millisecond, StallAfter: 50 * time.Millisecond},
	})
	readyz := func() (int, string) {
		res, err := http.Get(svc.SCIM().BaseURL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	held, release := make(chan struct{}), make(chan struct{})
	go d.Write(context.Background(), func(*db.Tx) error { close(held); <-release; return nil })
	<-held
	queued := make(chan error, 1)
	go func() { queued <- d.ProbeWrite(context.Background()) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body := readyz()
		if status == 503 && strings.Contains(body, errStalled.Error()) {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("/readyz with the writer held: %d %q, want 503 %q", status, body, errStalled)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	for {
		status, body := readyz()
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after the writer moved: %d %q, want 200", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
