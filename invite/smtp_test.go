package invite

import (
	"context"
	"strings"
	"testing"
	"time"

	"scimdesk/internal/testsmtp"
)

// --smtp-url: the schemes, their default ports and security, and errors that never repeat
// the password.
func TestParseSMTPURL(t *testing.T) {
	const pass = "s3cret-pa55"
	for _, tc := range []struct {
		url                string
		addr               string
		implicit, loopback bool
		err                string
	}{
		{url: "smtp://u:" + pass + "@mail.example.com", addr: "mail.example.com:587"},
		{url: "smtp://u:" + pass + "@mail.example.com:2525", addr: "mail.example.com:2525"},
		{url: "smtps://u:" + pass + "@mail.example.com", addr: "mail.example.com:465", implicit: true},
		{url: "smtp://127.0.0.1:1025", addr: "127.0.0.1:1025", loopback: true},
		{url: "smtp://[::1]:1025", addr: "[::1]:1025", loopback: true},
		{url: "smtp://localhost", addr: "localhost:587", loopback: true},
		{url: "http://u:" + pass + "@mail.example.com", err: "use smtp://"},
		{url: "smtp://u:" + pass + "@", err: "no host"},
		{url: "smtp://u:" + pass + "@mail.example.com/x", err: "no path"},
		{url: "smtp://u:" + pass + "@mail.example.com:99999999999999999999x", err: "not a URL"},
		{url: "smtp://u:" + pass + "%zz@mail.example.com", err: "not a URL"},
	} {
		tr, err := ParseSMTPURL(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), pass) {
				t.Errorf("%s: error %v, want one saying %q without the password", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil || tr.addr != tc.addr || tr.implicit != tc.implicit || tr.loopback != tc.loopback || strings.Contains(tr.String(), pass) {
			t.Errorf("%s: %+v, %v", tc.url, tr, err)
		}
	}
}

// A mail server beyond loopback that offers no STARTTLS gets neither the password nor a
// message: scimdesk refuses before logging in.
func TestSTARTTLSRequiredBeyondLoopback(t *testing.T) {
	srv := testsmtp.Start(t, testsmtp.Options{NoTLS: true})
	tr, err := ParseSMTPURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	tr.loopback = false // as if the host were mail.example.com
	tr.Timeout = 10 * time.Second
	if s, err := tr.dial(context.Background()); err == nil || !strings.Contains(err.Error(), "offers no STARTTLS") {
		if s != nil {
			s.quit()
		}
		t.Fatalf("dial = %v, want a refusal for want of STARTTLS", err)
	}
	// On loopback the same server is fine (a local relay).
	tr.loopback = true
	s, err := tr.dial(context.Background())
	if err != nil {
		t.Fatalf("dial on loopback: %v", err)
	}
	s.quit()
}

func TestRetryAfterDoublesToItsCap(t *testing.T) {
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute}
	for i, w := range want {
		if got := retryAfter(i + 1); got != w {
			t.Errorf("retryAfter(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := retryAfter(50); got != RetryMax {
		t.Errorf("retryAfter(50) = %v, want the cap %v", got, RetryMax)
	}
}
