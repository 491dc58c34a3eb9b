package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"scimdesk/internal/testpg"
)

// scimCall sends one SCIM request and returns the status and the decoded body (nil when
// the body is not a JSON object). A request that gets no answer fails the test.
func scimCall(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var doc map[string]any
	json.Unmarshal(raw, &doc)
	return res.StatusCode, doc
}

// scimUsers reads every user through one instance's SCIM API: userName -> displayName.
func scimUsers(t *testing.T, base, token string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for start := 1; ; {
		status, page := scimCall(t, "GET", fmt.Sprintf("%s/Users?startIndex=%d&count=500&attributes=userName,displayName", base, start), token, "")
		if status != http.StatusOK {
			t.Fatalf("list users from %d: %d", start, status)
		}
		res, _ := page["Resources"].([]any)
		for _, r := range res {
			u := r.(map[string]any)
			name, _ := u["displayName"].(string)
			out[u["userName"].(string)] = name
		}
		start += len(res)
		total := int(page["totalResults"].(float64))
		if len(res) == 0 || start > total {
			if len(out) != total {
				t.Fatalf("read %d users, the instance counts %d", len(out), total)
			}
			return out
		}
	}
}

// newToken creates a token through the real binary: its secret, and its id as token
// list shows it.
func newToken(t *testing.T, dsn, description string) (secret, id string) {
	t.Helper()
	secret = strings.TrimSpace(strings.SplitN(run(t, "token", "create", "--db", dsn, "--description", description), "\n", 2)[0])
	for _, line := range strings.Split(run(t, "token", "list", "--db", dsn), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == description {
			return secret, f[0]
		}
	}
	t.Fatalf("token %s is not in token list", description)
	return "", ""
}

// TestInstancesOnPostgres runs two real `scimdesk serve` instances on one PostgreSQL
// database, as behind a load balancer, and drives them with 32 concurrent clients whose
// requests alternate between the two: every client creates users of its own, renames them
// through the other instance, adds them to one group, and all race to create the same
// shared userNames. Both instances then list exactly the users acknowledged (each shared
// name once, no duplicate), with the names set through the other instance, and the group
// holds every member added through either. Finally a token revoked, and SCIM switched
// off, by an admin command are refused by both instances at their very next request,
// though both had that token's authentication cached.
func TestInstancesOnPostgres(t *testing.T) {
	dsn := testpg.DSN(t)
	addrA, addrB := freeAddr(t), freeAddr(t)
	startServe(t, dsn, addrA) // makes the schema
	startServe(t, dsn, addrB)
	run(t, "scim", "enable", "--db", dsn)
	token, _ := newToken(t, dsn, "load")
	bases := [2]string{"http://" + addrA + "/scim/v2", "http://" + addrB + "/scim/v2"}

	status, group := scimCall(t, "POST", bases[0]+"/Groups", token, `{"displayName":"Everyone"}`)
	if status != http.StatusCreated {
		t.Fatalf("create group: %d %v", status, group)
	}
	groupID := group["id"].(string)

	const clients, perClient, shared = 32, 6, 8
	var mu sync.Mutex
	acked := map[string]string{} // userName -> displayName expected
	sharedWins := map[string]int{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ids []string
			for i := range perClient {
				base, other := bases[(c+i)%2], bases[(c+i+1)%2]
				name := fmt.Sprintf("c%02d-%d@example.com", c, i)
				status, u := scimCall(t, "POST", base+"/Users", token, `{"userName":"`+name+`","active":true}`)
				if status != http.StatusCreated {
					t.Errorf("create %s: %d %v", name, status, u)
					continue
				}
				id := u["id"].(string)
				ids = append(ids, id)
				display := fmt.Sprintf("Client %d user %d", c, i)
				status, _ = scimCall(t, "PATCH", other+"/Users/"+id, token,
					`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"`+display+`"}]}`)
				if status != http.StatusOK && status != http.StatusNoContent {
					t.Errorf("rename %s through the other instance: %d", name, status)
					continue
				}
				mu.Lock()
				acked[name] = display
				mu.Unlock()
			}
			for s := range shared {
				name := fmt.Sprintf("shared-%d@example.com", s)
				status, _ := scimCall(t, "POST", bases[(c+s)%2]+"/Users", token, `{"userName":"`+name+`"}`)
				switch status {
				case http.StatusCreated:
					mu.Lock()
					sharedWins[name]++
					acked[name] = ""
					mu.Unlock()
				case http.StatusConflict:
				default:
					t.Errorf("create shared %s: %d", name, status)
				}
			}
			var members []string
			for _, id := range ids {
				members = append(members, `{"value":"`+id+`"}`)
			}
			if len(members) > 0 {
				status, _ := scimCall(t, "PATCH", bases[c%2]+"/Groups/"+groupID, token,
					`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[`+strings.Join(members, ",")+`]}]}`)
				if status != http.StatusOK && status != http.StatusNoContent {
					t.Errorf("add members through %s: %d", bases[c%2], status)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for s := range shared {
		name := fmt.Sprintf("shared-%d@example.com", s)
		if sharedWins[name] != 1 {
			t.Errorf("%s was created %d times; exactly one create may win", name, sharedWins[name])
		}
	}
	if want := clients*perClient + shared; len(acked) != want {
		t.Errorf("%d users acknowledged, want %d", len(acked), want)
	}
	for i, base := range bases {
		got := scimUsers(t, base, token)
		if len(got) != len(acked) {
			t.Errorf("instance %c lists %d users, %d were acknowledged", 'A'+i, len(got), len(acked))
		}
		var wrong []string
		for name, display := range acked {
			if d, ok := got[name]; !ok || d != display {
				wrong = append(wrong, fmt.Sprintf("%s=%q (want %q, listed %v)", name, d, display, ok))
			}
		}
		sort.Strings(wrong)
		if len(wrong) > 0 {
			t.Errorf("instance %c: %d users differ, e.g. %v", 'A'+i, len(wrong), wrong[:min(3, len(wrong))])
		}
		status, g := scimCall(t, "GET", base+"/Groups/"+groupID, token, "")
		members, _ := g["members"].([]any)
		if status != http.StatusOK || len(members) != clients*perClient {
			t.Errorf("instance %c: the group has %d members (%d), want %d", 'A'+i, len(members), status, clients*perClient)
		}
	}

	// A revoke and a switch-off by an admin command: each instance has the token's
	// authentication cached, and refuses it at its next request.
	victim, victimID := newToken(t, dsn, "stolen")
	for range 3 {
		for _, base := range bases {
			if status, _ := scimCall(t, "GET", base+"/Users?count=1", victim, ""); status != http.StatusOK {
				t.Fatalf("the new token before the revoke: %d", status)
			}
		}
	}
	run(t, "token", "revoke", victimID, "--db", dsn)
	for i, base := range []string{bases[1], bases[0]} {
		if status, _ := scimCall(t, "GET", base+"/Users?count=1", victim, ""); status != http.StatusUnauthorized {
			t.Errorf("instance %c's first request after the revoke: %d, want 401", 'B'-i, status)
		}
	}
	for _, base := range bases {
		scimCall(t, "GET", base+"/Users?count=1", token, "")
	}
	run(t, "scim", "disable", "--db", dsn)
	for i, base := range []string{bases[1], bases[0]} {
		if status, _ := scimCall(t, "GET", base+"/Users?count=1", token, ""); status != http.StatusForbidden {
			t.Errorf("instance %c's first request after scim disable: %d, want 403", 'B'-i, status)
		}
	}
}

// TestInstanceKilledLosesNoAcknowledgedWrite: two instances on one PostgreSQL database
// take creates from clients alternating between them; one is killed with SIGKILL in the
// middle. Every create either instance acknowledged is stored, none it refused is, and
// the other instance keeps serving through the kill and after it.
func TestInstanceKilledLosesNoAcknowledgedWrite(t *testing.T) {
	dsn := testpg.DSN(t)
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := startServe(t, dsn, addrA)
	startServe(t, dsn, addrB)
	run(t, "scim", "enable", "--db", dsn)
	token, _ := newToken(t, dsn, "durability")
	bases := [2]string{"http://" + addrA + "/scim/v2", "http://" + addrB + "/scim/v2"}

	const workers, killAt = 8, 150
	var mu sync.Mutex
	fate := map[string]string{}
	var acked, ackedByB, afterKill int
	var kill sync.Once
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				dead := false
				select {
				case <-killed:
					dead = true
				default:
				}
				to := (w + i) % 2
				if dead {
					to = 1 // A is gone: B takes everything, as a load balancer would send it
				}
				name := fmt.Sprintf("k-%d-%d@example.com", w, i)
				mu.Lock()
				fate[name] = "unknown"
				mu.Unlock()
				req, _ := http.NewRequest("POST", bases[to]+"/Users", strings.NewReader(`{"userName":"`+name+`"}`))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/scim+json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					if to == 1 {
						t.Errorf("instance B failed a request: %v", err)
						return
					}
					continue // A died under this one: its fate is unknown
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				if res.StatusCode == http.StatusCreated {
					fate[name] = "acked"
					acked++
					if to == 1 {
						ackedByB++
					}
					if dead {
						afterKill++
					}
				} else {
					fate[name] = "refused"
				}
				n := acked
				mu.Unlock()
				if n >= killAt {
					kill.Do(func() { a.Process.Signal(syscall.SIGKILL); close(killed) })
				}
				if dead && afterKill >= 100 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := a.Wait(); err == nil {
		t.Fatalf("instance A was not killed (%d creates acknowledged)", acked)
	}
	if afterKill == 0 {
		t.Fatal("instance B acknowledged no create after A was killed")
	}
	stored := scimUsers(t, bases[1], token)
	unacked := 0
	for name, f := range fate {
		_, ok := stored[name]
		switch {
		case f == "acked" && !ok:
			t.Errorf("acknowledged user %s lost", name)
		case f == "refused" && ok:
			t.Errorf("user %s stored although its create was refused", name)
		case f == "unknown" && ok:
			unacked++
		}
	}
	for name := range stored {
		if _, ok := fate[name]; !ok {
			t.Errorf("user %s stored but never sent", name)
		}
	}
	if unacked > workers {
		t.Errorf("%d users stored without a 201: more than the requests in flight at the kill", unacked)
	}
	t.Logf("%d creates acknowledged (%d by B, %d after the kill); %d stored", acked, ackedByB, afterKill, len(stored))
}

// TestMigrateStoreCommand moves a SQLite install to PostgreSQL with the real binary: the
// copy serves the same token and users, the password in the URL is never printed, and a
// second copy into the now non-empty database is refused.
func TestMigrateStoreCommand(t *testing.T) {
	dbPath := t.TempDir() + "/move.db"
	createDB(t, dbPath)
	run(t, "scim", "enable", "--db", dbPath)
	token := strings.SplitN(run(t, "token", "create", "--db", dbPath, "--description", "okta"), "\n", 2)[0]
	addr := freeAddr(t)
	srv := startServe(t, dbPath, addr)
	for i := range 3 {
		if status, _ := scimCall(t, "POST", "http://"+addr+"/scim/v2/Users", token, fmt.Sprintf(`{"userName":"move%d@example.com"}`, i)); status != http.StatusCreated {
			t.Fatalf("create: %d", status)
		}
	}
	dsn := testpg.DSN(t)
	// Trust authentication ignores the password; it is there to be kept out of the output.
	withPassword := strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:Hunter2-secret@", 1)
	if withPassword == dsn {
		t.Fatalf("cannot put a password into %s", dsn)
	}
	out, err := exec.Command(builtBinary(t), "migrate-store", "--from", dbPath, "--to", withPassword).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "serves") {
		t.Fatalf("migrate-store while a server serves the source: %v\n%s", err, out)
	}
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	out, err = exec.Command(builtBinary(t), "migrate-store", "--from", dbPath, "--to", withPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("migrate-store: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Hunter2-secret") {
		t.Errorf("migrate-store printed the database password:\n%s", out)
	}
	if !strings.Contains(string(out), "users") || !strings.Contains(string(out), "the same rows on both sides") {
		t.Errorf("migrate-store said:\n%s", out)
	}
	out, err = exec.Command(builtBinary(t), "migrate-store", "--from", dbPath, "--to", withPassword).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not empty") || strings.Contains(string(out), "Hunter2-secret") {
		t.Errorf("a second migrate-store into the same database: %v\n%s", err, out)
	}
	if status := run(t, "scim", "status", "--db", dbPath); !strings.Contains(status, "disabled") {
		t.Errorf("SCIM on the moved SQLite file after migrate-store:\n%s", status)
	}
	pgAddr := freeAddr(t)
	startServe(t, dsn, pgAddr)
	names := scimUsers(t, "http://"+pgAddr+"/scim/v2", token)
	if len(names) != 3 {
		t.Errorf("the PostgreSQL instance serves %d users with the old token, want 3", len(names))
	}
}
