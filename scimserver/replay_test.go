package scimserver

import (
	"encoding/json"
	"os"
	"path/filepath"
	"scimdesk/internal/teststore"
	"strings"
	"testing"
)

// A replay is a sequence of requests an identity provider sends, written by us from the
// vendor's public documentation (testdata/replay_*.json), with what each must answer.
type replayStep struct {
	Name    string            `json:"name"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Body    json.RawMessage   `json:"body"`
	Headers map[string]string `json:"headers"`
	Token   *string           `json:"token"` // "" sends no token; absent sends the valid one
	Status  int               `json:"status"`
	Expect  map[string]any    `json:"expect"`
	Save    map[string]string `json:"save"` // variable -> JSON path in the response
}

func TestReplays(t *testing.T) {
	files, err := filepath.Glob("testdata/replay_*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no replays found: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var steps []replayStep
			if err := json.Unmarshal(raw, &steps); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			runSteps(t, steps)
		})
	}
}

// runSteps replays the steps against a server over each database engine.
func runSteps(t *testing.T, steps []replayStep) {
	teststore.Each(t, func(t *testing.T, engine teststore.Engine) { runStepsOn(t, engine, steps) })
}

func runStepsOn(t *testing.T, engine teststore.Engine, steps []replayStep) {
	e := newEnvOn(t, engine)
	e.t = t
	for i, s := range steps {
		what := s.Name
		if what == "" {
			what = s.Method + " " + s.Path
		}
		body := ""
		if len(s.Body) > 0 {
			if s.Body[0] == '"' {
				json.Unmarshal(s.Body, &body) // a raw (maybe malformed) body written as a string
			} else {
				body = compact(string(s.Body))
			}
		}
		var hdr []string
		for k, v := range s.Headers {
			hdr = append(hdr, k, v)
		}
		token := e.token
		if s.Token != nil {
			token = e.expand(*s.Token)
		}
		r := e.doToken(token, s.Method, s.Path, body, hdr...)
		if r.status != s.Status {
			t.Fatalf("step %d %q: status %d, want %d\n%s", i, what, r.status, s.Status, r.raw)
		}
		want := map[string]any{}
		for k, v := range s.Expect {
			if str, ok := v.(string); ok {
				v = e.expand(str)
			}
			want[e.expand(k)] = v
		}
		r.expect(t, what, want)
		for name, path := range s.Save {
			v, ok := get(any(r.json), path)
			if !ok {
				if path == "header:ETag" {
					v, ok = r.header.Get("ETag"), true
				} else {
					t.Fatalf("step %d %q: nothing at %s to save\n%s", i, what, path, r.raw)
				}
			}
			s, _ := v.(string)
			e.vars[name] = s
		}
	}
}
