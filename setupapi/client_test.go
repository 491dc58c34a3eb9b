package setupapi

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestClientErrors checks what a user reads when the client cannot reach the setup API at
// all, or something else answers; the exchanges with a real scimdesk server are tested in
// scimserver, beside the handlers.
func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	// Nothing listens: the port of a server that just closed.
	ts := httptest.NewServer(http.NotFoundHandler())
	dead := ts.URL
	ts.Close()
	c, _ := NewClient(dead, "")
	_, err := c.Begin(ctx, "a@example.com", "ABCDE-12345", "setup")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the server at "+dead+": is scimdesk running?") {
		t.Errorf("refused: %v", err)
	}

	// A TLS server whose certificate nobody trusts.
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	c, _ = NewClient(tlsSrv.URL, "")
	_, err = c.Begin(ctx, "a@example.com", "ABCDE-12345", "setup")
	if err == nil || !strings.Contains(err.Error(), "not trusted") || !strings.Contains(err.Error(), "--ca-file") {
		t.Errorf("untrusted: %v", err)
	}
	// HTTPS to a plain HTTP server, and plain HTTP to a TLS one.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	c, _ = NewClient(strings.Replace(plain.URL, "http://", "https://", 1), "")
	if _, err = c.Begin(ctx, "a@example.com", "ABCDE-12345", "setup"); err == nil || !strings.Contains(err.Error(), "does not speak HTTPS") {
		t.Errorf("https to http: %v", err)
	}
	// Something else answers.
	c, _ = NewClient(plain.URL, "")
	if _, err = c.Begin(ctx, "a@example.com", "ABCDE-12345", "setup"); err == nil || !strings.Contains(err.Error(), "does not offer scimdesk's setup API (HTTP 404)") {
		t.Errorf("not scimdesk: %v", err)
	}

	for in, want := range map[string]string{
		"127.0.0.1:8080":                      "http://127.0.0.1:8080",
		"localhost:8080/":                     "http://localhost:8080",
		"scim.example.com":                    "https://scim.example.com",
		" https://scim.example.com/":          "https://scim.example.com",
		"https://example.com/desk/":           "https://example.com/desk",
		"https://example.com/scim/v2":         "https://example.com",
		"http://127.0.0.1:8080/desk/scim/v2/": "http://127.0.0.1:8080/desk",
		"ftp://example.com":                   "",
		"":                                    "",
		"https://":                            "",
		"https://u:p@example.com":             "",
	} {
		got, err := NormalizeServerURL(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("NormalizeServerURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
