// Package publicurl decides the base URL scimdesk hands out (the SCIM URL for the identity
// provider, the --server of `scimdesk setup`) and says when that URL cannot be pasted
// elsewhere: a loopback or wildcard address works only on this machine, or nowhere.
package publicurl

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// hostname is the machine's host name; tests replace it.
var hostname = os.Hostname

// FromListen is the base URL made from where the server listens, for when no public URL
// was given: scheme://host when host (a DNS name the server is known by, such as the
// ACME domain) is given, else the listen address, its wildcard (":8080", "0.0.0.0:8080",
// "[::]:8080") replaced by the machine's host name, or by 127.0.0.1 when it has none. The
// port is left out when it is the scheme's default.
func FromListen(scheme, host, listenAddr string) string {
	h, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return scheme + "://" + listenAddr
	}
	switch {
	case host != "":
		h = host
	case isWildcard(h):
		h = "127.0.0.1"
		if name := machineName(); name != "" {
			h = name
		}
	}
	if port == defaultPort(scheme) {
		if strings.Contains(h, ":") {
			return scheme + "://[" + h + "]"
		}
		return scheme + "://" + h
	}
	return scheme + "://" + net.JoinHostPort(h, port)
}

// Caveat says why base, the URL of a server listening on listenAddr, is no URL to paste
// into an identity provider or hand to a user on another machine, naming the fix; it is
// empty when base names a host others can reach (as far as scimdesk can tell).
func Caveat(base, listenAddr string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	const fix = "set --public-url to the URL the identity provider reaches (or use --acme-domain)"
	if ip := net.ParseIP(host); ip != nil {
		switch {
		case ip.IsLoopback():
			return fmt.Sprintf("%s is a loopback address: only this machine can reach it. To provision from Okta or Entra ID, %s.", host, fix)
		case ip.IsUnspecified():
			return fmt.Sprintf("%s is a wildcard address, which no client can connect to: %s.", host, fix)
		}
		return ""
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Sprintf("%s is loopback: only this machine can reach it. To provision from Okta or Entra ID, %s.", host, fix)
	}
	lh, lport, err := net.SplitHostPort(listenAddr)
	if err != nil || !isWildcard(lh) || host != machineName() {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	if port != lport {
		return ""
	}
	return fmt.Sprintf("the host name %s is this machine's, guessed because the server listens on every address (%s): if others reach it by another name, %s.", host, listenAddr, fix)
}

// isWildcard reports whether a listen host means every address.
func isWildcard(h string) bool {
	if h == "" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsUnspecified()
}

// machineName is the machine's host name in lower case, or "" when it has none that
// could be a DNS name others use.
func machineName() string {
	name, err := hostname()
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if err != nil || name == "" || name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return ""
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return ""
		}
	}
	return name
}

func defaultPort(scheme string) string {
	switch scheme {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}
