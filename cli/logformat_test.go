package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("scimdesk serving", "listen", "127.0.0.1:8080")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "scimdesk serving" || rec["listen"] != "127.0.0.1:8080" {
		t.Errorf("json: %v %v from %q", err, rec, buf.String())
	}

	for _, format := range []string{"text", ""} {
		buf.Reset()
		log, err := newLogger(&buf, format)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("scimdesk serving", "listen", "127.0.0.1:8080")
		if !strings.Contains(buf.String(), `msg="scimdesk serving" listen=127.0.0.1:8080`) {
			t.Errorf("format %q: %q, want slog's text", format, buf.String())
		}
	}

	if _, err := newLogger(&buf, "xml"); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("xml: %v", err)
	}
}
