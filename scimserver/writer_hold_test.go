package scimserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"scimdesk/db"
)

// TestAttacksDoNotHoldTheWriter sends, with a valid token, the requests that used to hold
// the single writer for most of a minute (a PATCH of 200 email adds, a thousand filtered
// member removals from a big group, and a write made to run past its budget), while
// another client keeps creating users. Each attack is answered, the bystander's writes
// all succeed, and no batch held the writer much longer than the write budget.
func TestAttacksDoNotHoldTheWriter(t *testing.T) {
	if raceDetector {
		// It measures database time against the write budget, which the race detector's
		// slowdown makes meaningless; CI runs it in the plain go test.
		t.Skip("-race: timing test of the write budget")
	}
	e := newEnv(t)
	e.t = t
	const members = 3000
	ids := seedUsers(t, e, members, "m")
	refs := make([]string, members)
	for i, id := range ids {
		refs[i] = `{"value":"` + id + `"}`
	}
	r := e.do("POST", "/Groups", `{"displayName":"everyone","members":[`+strings.Join(refs, ",")+`]}`)
	if r.status != 201 {
		t.Fatalf("create group: %d %s", r.status, r.raw)
	}
	group := r.json["id"].(string)
	user := e.do("POST", "/Users", `{"userName":"target@example.com"}`).json["id"].(string)

	stop := make(chan struct{})
	var bystander sync.WaitGroup
	var failed []string
	bystander.Add(1)
	go func() {
		defer bystander.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if r := e.do("POST", "/Users", fmt.Sprintf(`{"userName":"bystander-%d@example.com"}`, i)); r.status != 201 {
				failed = append(failed, fmt.Sprintf("%d %s", r.status, r.raw))
			}
		}
	}()

	// 200 adds of 100 emails each: refused for the result's value count, nothing stored.
	var ops []string
	for i := range 200 {
		emails := make([]string, 100)
		for j := range emails {
			emails[j] = fmt.Sprintf(`{"value":"a%d.%d@example.com"}`, i, j)
		}
		ops = append(ops, `{"op":"add","path":"emails","value":[`+strings.Join(emails, ",")+`]}`)
	}
	if r := e.do("PATCH", "/Users/"+user, patchBody(ops...)); r.status != 400 {
		t.Errorf("200 email adds: %d, want 400", r.status)
	}
	if r := e.do("GET", "/Users/"+user, ""); r.json["emails"] != nil {
		t.Errorf("the refused PATCH stored emails: %v", r.json["emails"])
	}

	// A thousand members removed by filter, in one request, in one pass.
	ops = ops[:0]
	for _, id := range ids[:1000] {
		ops = append(ops, `{"op":"remove","path":"members[value sw \"`+id+`\"]"}`)
	}
	if r := e.do("PATCH", "/Groups/"+group+"?excludedAttributes=members", patchBody(ops...)); r.status != 200 {
		t.Errorf("1000 filtered removals: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/Groups/"+group, ""); len(r.json["members"].([]any)) != members-1000 {
		t.Errorf("%d members left, want %d", len(r.json["members"].([]any)), members-1000)
	}
	close(stop)
	bystander.Wait()
	for _, f := range failed[:min(len(failed), 3)] {
		t.Errorf("bystander create failed: %s", f)
	}
	hold := e.db.WriterStats().LongestHold
	t.Logf("longest writer hold: %s (budget %s)", hold, db.DefaultWriteBudget)
	if hold > db.DefaultWriteBudget+time.Second {
		t.Errorf("a batch held the writer for %s, with a budget of %s", hold, db.DefaultWriteBudget)
	}
}

// TestDeleteBigGroup deletes a group with more members than one chunk: it is gone, its
// users are not, and a stale If-Match first leaves every member in place.
func TestDeleteBigGroup(t *testing.T) {
	if raceDetector {
		// It measures database time against the write budget, which the race detector's
		// slowdown makes meaningless; CI runs it in the plain go test.
		t.Skip("-race: timing test of the write budget")
	}
	e := newEnv(t)
	e.t = t
	const members = 12000 // more than two chunks of memberDeleteChunk
	ids := seedUsers(t, e, members, "b")
	group := e.do("POST", "/Groups", `{"displayName":"everyone"}`).json["id"].(string)
	addMembers(t, e, group, ids, 4000)
	if r := e.do("DELETE", "/Groups/"+group, "", "If-Match", `W/"1"`); r.status != http.StatusPreconditionFailed {
		t.Fatalf("DELETE with a stale If-Match: %d, want 412", r.status)
	}
	if r := e.do("GET", "/Groups/"+group, ""); len(r.json["members"].([]any)) != members {
		t.Fatalf("after a refused DELETE the group has %d members, want %d", len(r.json["members"].([]any)), members)
	}
	if r := e.do("DELETE", "/Groups/"+group, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/Groups/"+group, ""); r.status != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d, want 404", r.status)
	}
	if r := e.do("GET", "/Users?count=0", ""); fmt.Sprint(r.json["totalResults"]) != fmt.Sprint(members) {
		t.Errorf("%v users after the group's delete, want %d", r.json["totalResults"], members)
	}
}

// TestCostlyMemberFiltersStopAtTheBudget sends the PATCH that held the writer for seconds
// in memory, between two statements: member filters of many "co" comparisons each, over a
// big group, so that a single operation costs more than the whole budget. Whether it finishes within the budget or is stopped by it (503),
// it is never a 500 and no batch holds the writer much past the budget.
func TestCostlyMemberFiltersStopAtTheBudget(t *testing.T) {
	if raceDetector {
		// It measures database time against the write budget, which the race detector's
		// slowdown makes meaningless; CI runs it in the plain go test.
		t.Skip("-race: timing test of the write budget")
	}
	e := newEnv(t)
	e.t = t
	const members = 10000
	ids := seedUsers(t, e, members, "c")
	group := e.do("POST", "/Groups", `{"displayName":"big"}`).json["id"].(string)
	addMembers(t, e, group, ids, 2500)
	terms := make([]string, 99) // with the value eq: the most comparisons one filter may have
	for i := range terms {
		terms[i] = fmt.Sprintf(`display co \"zz%d\"`, i)
	}
	var ops []string
	for k := range 16 { // the most member filters one request may scan with
		ops = append(ops, `{"op":"remove","path":"members[`+strings.Join(terms, " or ")+` or value eq \"`+ids[100+k]+`\"]"}`)
	}
	before := e.db.WriterStats().LongestHold
	// Sent by hand: the harness counts every 5xx as a failure, and 503 is one answer allowed here.
	req, _ := http.NewRequest("PATCH", e.url+"/Groups/"+group+"?excludedAttributes=members", strings.NewReader(patchBody(ops...)))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	r := response{status: res.StatusCode, raw: raw}
	if r.status != 200 && r.status != http.StatusServiceUnavailable {
		t.Fatalf("costly member filters: %d %s", r.status, r.raw)
	}
	hold := e.db.WriterStats().LongestHold
	t.Logf("costly member filters: %d; longest writer hold %s (before it: %s)", r.status, hold, before)
	if hold > db.DefaultWriteBudget+time.Second {
		t.Errorf("a batch held the writer for %s, with a budget of %s", hold, db.DefaultWriteBudget)
	}
}

// seedUsers inserts n users straight into the database, a few hundred per write (the HTTP
// create path is not what these tests are about), and returns their ids.
func seedUsers(t *testing.T, e *testEnv, n int, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for start := 0; start < n; start += 200 {
		err := e.db.Write(ctx, func(tx *db.Tx) error {
			for i := start; i < min(start+200, n); i++ {
				ids[i] = uuid.NewString()
				u := db.User{ID: ids[i], UserName: fmt.Sprintf("%s%05d@example.com", prefix, i),
					DisplayName: fmt.Sprintf("Member %d", i), Active: true, Doc: []byte(`{}`)}
				if err := tx.InsertUser(ctx, &u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// addMembers adds users to a group in PATCHes of per members each, as an identity
// provider pushes a big group.
func addMembers(t *testing.T, e *testEnv, group string, ids []string, per int) {
	t.Helper()
	for start := 0; start < len(ids); start += per {
		refs := make([]string, 0, per)
		for _, id := range ids[start:min(start+per, len(ids))] {
			refs = append(refs, `{"value":"`+id+`"}`)
		}
		if r := e.do("PATCH", "/Groups/"+group+"?excludedAttributes=members",
			patchBody(`{"op":"add","path":"members","value":[`+strings.Join(refs, ",")+`]}`)); r.status != 200 {
			t.Fatalf("add members: %d %s", r.status, r.raw)
		}
	}
}
