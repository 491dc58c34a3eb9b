package publicurl

import (
	"errors"
	"strings"
	"testing"
)

func TestFromListenAndCaveat(t *testing.T) {
	tests := []struct {
		name         string
		machine      string // the machine's host name ("" has none)
		scheme, host string
		listen       string
		want         string
		caveat       string // a fragment of the caveat; "" wants none
	}{
		{"loopback", "box", "http", "", "127.0.0.1:8080", "http://127.0.0.1:8080", "loopback"},
		{"ipv6 loopback", "box", "http", "", "[::1]:8080", "http://[::1]:8080", "loopback"},
		{"wildcard, known host name", "box.example.com", "http", "", ":8080", "http://box.example.com:8080", "guessed"},
		{"ipv4 wildcard, known host name", "Box", "https", "", "0.0.0.0:443", "https://box", "guessed"},
		{"ipv6 wildcard, no host name", "", "http", "", "[::]:8080", "http://127.0.0.1:8080", "loopback"},
		{"wildcard, host name localhost", "localhost", "http", "", ":8080", "http://127.0.0.1:8080", "loopback"},
		{"acme domain on 443", "box", "https", "scim.example.com", ":443", "https://scim.example.com", ""},
		{"acme domain on another port", "box", "https", "scim.example.com", ":8443", "https://scim.example.com:8443", ""},
		{"a real address", "box", "http", "", "10.1.2.3:8080", "http://10.1.2.3:8080", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostname = func() (string, error) {
				if tt.machine == "" {
					return "", errors.New("no host name")
				}
				return tt.machine, nil
			}
			t.Cleanup(func() { hostname = nil })
			got := FromListen(tt.scheme, tt.host, tt.listen)
			if got != tt.want {
				t.Fatalf("FromListen(%q, %q, %q) = %q, want %q", tt.scheme, tt.host, tt.listen, got, tt.want)
			}
			c := Caveat(got, tt.listen)
			switch {
			case tt.caveat == "" && c != "":
				t.Errorf("Caveat(%q) = %q, want none", got, c)
			case tt.caveat != "" && !strings.Contains(c, tt.caveat):
				t.Errorf("Caveat(%q) = %q, want it to say %q", got, c, tt.caveat)
			case tt.caveat != "" && !strings.Contains(c, "--public-url"):
				t.Errorf("Caveat(%q) = %q does not name --public-url as the fix", got, c)
			}
		})
	}
}

// TestCaveatOfAPublicURL: a URL given with --public-url is believed, even when the
// server itself listens on a wildcard or loopback address behind a proxy; a public URL
// that is itself loopback or a wildcard is not.
func TestCaveatOfAPublicURL(t *testing.T) {
	hostname = func() (string, error) { return "box", nil }
	t.Cleanup(func() { hostname = nil })
	for base, want := range map[string]string{
		"https://scim.example.com":  "",
		"https://box.example.com":   "",
		"http://localhost:8080":     "loopback",
		"http://app.localhost:8080": "loopback",
		"http://0.0.0.0:8080":       "wildcard",
		"http://[::]:8080":          "wildcard",
	} {
		c := Caveat(base, "127.0.0.1:8080")
		if (want == "") != (c == "") || !strings.Contains(c, want) {
			t.Errorf("Caveat(%q) = %q, want %q", base, c, want)
		}
	}
}
