package scimserver

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientsHangingUpFailNoOtherWrite runs a write load from well-behaved clients while
// other clients send heavy writes and reset their connections in the middle of them. A
// write, once admitted, runs to its end on a context the client cannot cancel, so the
// group commits it shares with the others must never fail: every well-behaved client gets
// only 2xx.
func TestClientsHangingUpFailNoOtherWrite(t *testing.T) {
	e := newEnv(t)
	e.t = t
	// Members for the heavy writes: a PATCH adding 200 of them runs long enough in the
	// writer for a reset to land in the middle of it.
	var ids []string
	for i := range 200 {
		r := e.do("POST", "/Users", jsonBody(map[string]any{"userName": fmt.Sprintf("member-%03d@example.com", i)}))
		ids = append(ids, r.json["id"].(string))
	}
	var members strings.Builder
	for i, id := range ids {
		if i > 0 {
			members.WriteByte(',')
		}
		fmt.Fprintf(&members, `{"value":%q}`, id)
	}
	addr := strings.TrimPrefix(strings.TrimPrefix(e.url, "http://"), "https://")
	addr = addr[:strings.IndexByte(addr, '/')]

	stop := make(chan struct{})
	var resets atomic.Int64
	var wg sync.WaitGroup
	for c := range 4 { // clients that hang up
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := e.do("POST", "/Groups", jsonBody(map[string]any{"displayName": fmt.Sprintf("g-%d-%d", c, i)}))
				if r.status != 201 {
					continue
				}
				body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[` + members.String() + `]}]}`
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					continue
				}
				fmt.Fprintf(conn, "PATCH /scim/v2/Groups/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/scim+json\r\nContent-Length: %d\r\n\r\n%s",
					r.json["id"], addr, e.token, len(body), body)
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
				conn.(*net.TCPConn).SetLinger(0) // close with a reset, as a dropped client does
				conn.Close()
				resets.Add(1)
			}
		}()
	}
	var failures []string
	var mu sync.Mutex
	var good sync.WaitGroup
	for c := range 4 { // well-behaved clients
		good.Add(1)
		go func() {
			defer good.Done()
			for i := range 60 {
				r := e.do("POST", "/Users", jsonBody(map[string]any{"userName": fmt.Sprintf("good-%d-%d@example.com", c, i)}))
				if r.status/100 != 2 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("create: %d %s", r.status, r.raw))
					mu.Unlock()
					continue
				}
				r = e.do("PATCH", "/Users/"+r.json["id"].(string), `{"Operations":[{"op":"replace","value":{"active":false}}]}`)
				if r.status/100 != 2 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("patch: %d %s", r.status, r.raw))
					mu.Unlock()
				}
			}
		}()
	}
	good.Wait()
	close(stop)
	wg.Wait()
	for _, f := range failures[:min(len(failures), 5)] {
		t.Error(f)
	}
	if len(failures) > 0 {
		t.Errorf("%d of 480 well-behaved writes failed while %d clients reset their connections", len(failures), resets.Load())
	}
	r := e.do("GET", "/Users?filter="+q(`userName sw "good-"`)+"&count=1", "")
	if fmt.Sprint(r.json["totalResults"]) != "240" {
		t.Errorf("%v good users stored, want 240", r.json["totalResults"])
	}
	t.Logf("%d connections reset mid-write", resets.Load())
}
