package metrics

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"scimdesk/internal/httpserve"
)

// Endpoint serves /metrics on a listener of its own (--metrics-addr), apart from the SCIM
// port: metrics are for the monitoring network, not for whoever can reach the identity
// provider's endpoint. Make it with Listen, then run Serve.
type Endpoint struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr now, so that a port in use fails at once, before the server starts
// serving SCIM, with a clear error (":0" picks a free port; see Addr).
func (m *Metrics) Listen(addr string) (*Endpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for metrics on %s: %w (is another program using this port? choose another with --metrics-addr)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "not found: scimdesk's metrics are at /metrics\n")
	})
	return &Endpoint{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute, // Prometheus keeps its connection between scrapes
		MaxHeaderBytes:    16 << 10,
	}}, nil
}

// Addr is the address the endpoint listens on, with the real port when :0 was asked for.
func (e *Endpoint) Addr() string { return e.ln.Addr().String() }

// Serve answers scrapes until ctx is cancelled, then closes the listener and returns nil
// (or the error that stopped it serving).
func (e *Endpoint) Serve(ctx context.Context) error {
	return httpserve.Run(ctx, e.srv, e.ln, 2*time.Second)
}

// Close releases the listener of an endpoint that will not be served (another listener
// of the service failed to bind).
func (e *Endpoint) Close() error { return e.ln.Close() }
