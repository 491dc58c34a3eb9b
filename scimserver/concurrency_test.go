package scimserver

import (
	"fmt"
	"scimdesk/internal/teststore"
	"sync"
	"testing"
)

// TestConcurrentClients runs 32 clients creating, patching and listing at once against one
// server: no errors, no lost or duplicated users, and totalResults exact.
func TestConcurrentClients(t *testing.T) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) {
		e := newEnvOn(t, engine)
		e.t = t
		const workers, perWorker = 32, 8
		var wg sync.WaitGroup
		errs := make(chan string, workers*perWorker*3)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					name := fmt.Sprintf("w%02d-u%02d@example.com", w, i)
					r := e.do("POST", "/Users", jsonBody(map[string]any{"userName": name, "active": true}))
					if r.status != 201 {
						errs <- fmt.Sprintf("create %s: %d %s", name, r.status, r.raw)
						continue
					}
					id := r.json["id"].(string)
					r = e.do("PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","value":{"active":false,"title":"t"}}]}`)
					if r.status != 200 || r.json["active"] != false {
						errs <- fmt.Sprintf("patch %s: %d %s", name, r.status, r.raw)
					}
					r = e.do("GET", "/Users?filter="+q(`userName eq "`+name+`"`), "")
					if r.status != 200 || fmt.Sprint(r.json["totalResults"]) != "1" {
						errs <- fmt.Sprintf("lookup %s: %d %s", name, r.status, r.raw)
					}
					if r := e.do("GET", "/Users?count=10", ""); r.status != 200 {
						errs <- fmt.Sprintf("list: %d %s", r.status, r.raw)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for msg := range errs {
			t.Error(msg)
		}
		r := e.do("GET", "/Users?count=1000", "")
		if got := fmt.Sprint(r.json["totalResults"]); got != fmt.Sprint(workers*perWorker) {
			t.Fatalf("totalResults %s, want %d", got, workers*perWorker)
		}
		seen := map[string]bool{}
		for _, res := range r.json["Resources"].([]any) {
			u := res.(map[string]any)
			name := u["userName"].(string)
			if seen[name] {
				t.Errorf("duplicate %s", name)
			}
			seen[name] = true
			if u["active"] != false || u["title"] != "t" {
				t.Errorf("lost patch on %s: %v", name, u)
			}
		}
		if len(seen) != workers*perWorker {
			t.Errorf("%d distinct users, want %d", len(seen), workers*perWorker)
		}
		if r := e.do("GET", "/Users?filter="+q(`active eq false`)+"&count=0", ""); fmt.Sprint(r.json["totalResults"]) != fmt.Sprint(workers*perWorker) {
			t.Errorf("filtered totalResults %v", r.json["totalResults"])
		}
	})
}
