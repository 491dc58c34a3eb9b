package scimserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxConns is how many connections the server holds at once unless told otherwise:
// enough for every identity provider and admin many times over, and far below the
// process's descriptor limit (Go raises the soft limit to the hard one at start).
const DefaultMaxConns = 1024

// newConnGrace is how long a new connection may stay silent before it may be evicted to
// make room: an identity provider sends its request right after connecting (TLS included,
// well under a second), so a connection that has said nothing for this long is more likely
// an attacker's than a client's that is about to speak.
const newConnGrace = time.Second

// idleGrace is how long a keep-alive connection must have been idle before it may be
// evicted. A client that has just read a response is likely to send its next request on
// the same connection at once, and a close that races that request fails it: Go's client,
// for one, does not retry a POST ("http: server closed idle connection"). Waiting this
// long for a connection that has been idle a while costs a newcomer at most this much.
const idleGrace = time.Second

// bodyGrace is how long a request's body may take to arrive before its connection may be
// evicted to make room. Identity providers send a body of a few KB in one go, right after
// the headers; a body still arriving after this long is trickling, which is how an
// attacker holds a connection busy with a request that never ends.
const bodyGrace = 2 * time.Second

// bodyTimeout bounds the reading of a request body, whether or not the server is full: a
// body of MaxBodyBytes (1 MiB) needs only about 100 KiB/s to arrive in time. Without it
// only the server's ReadTimeout (30 s) bounded a body sent one byte every few seconds.
const bodyTimeout = 10 * time.Second

// preReadMax is the largest body guard reads before the handler runs: far more than a
// user or a small group takes, and small enough that a full server holds at most
// DefaultMaxConns × 64 KiB of bodies nobody has authenticated yet.
const preReadMax = 64 << 10

// drainWait is how long the server waits for the rest of a body its handler did not read
// (a refused request, say) before it gives up on the connection. net/http reads up to
// 256 KiB of such a body, so that the connection can serve the next request, and waits
// for it as long as the read deadline allows: without this, an unauthenticated client
// could hold a connection busy for the whole ReadTimeout by trickling a body that is
// never even read. A client that sent its body in one go loses nothing.
const drainWait = 500 * time.Millisecond

// connLimiter caps the live connections of a listener. Without a cap, ~20,000 idle
// keep-alive connections from one client use up the descriptors and nobody else can
// connect.
//
// When the cap is reached it does not refuse the next client: it makes room by closing the
// connection whose loss harms least (see victim): one whose client has already gone, one
// that has sent nothing within newConnGrace, one whose request body has been trickling in
// for more than bodyGrace, or else a keep-alive connection idle for at least idleGrace,
// fewest requests served first. So an attacker who holds connections open without using
// them, or uses them to send a body one byte at a time, cannot lock out real clients; they
// only lose their own connections. Only when every connection is doing useful work does
// Accept wait for one to end, and such work is bounded in time by the server's timeouts.
//
// Connection states come from http.Server.ConnState (see track) and, within a request,
// from guard; the limiter sits under a TLS listener, so that net/http still sees its
// *tls.Conn.
type connLimiter struct {
	net.Listener
	max int
	// grace, idleGrace and bodyGrace are newConnGrace, idleGrace and bodyGrace; tests
	// shorten them.
	grace, idleGrace, bodyGrace time.Duration

	mu     sync.Mutex
	conns  map[*limitedConn]struct{}
	closed bool
	wake   chan struct{} // a slot was freed or a connection became a candidate for eviction
	done   chan struct{} // closed by Close
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	if max <= 0 {
		max = DefaultMaxConns
	}
	return &connLimiter{Listener: ln, max: max, grace: newConnGrace, idleGrace: idleGrace, bodyGrace: bodyGrace,
		conns: map[*limitedConn]struct{}{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// limitedConn is a connection counted by the limiter, with what victim needs to know
// about it. All fields but Conn, l and once are guarded by l.mu.
type limitedConn struct {
	net.Conn
	l     *connLimiter
	state http.ConnState
	since time.Time // when it entered state
	// served counts the requests it has completed (entered StateIdle after).
	served int
	// req numbers the requests, so that a late note about one request (gone) is not
	// taken for the next.
	req uint64
	// bodySince is when the handler started waiting for a request body that has not all
	// arrived yet; zero when it is not waiting for one.
	bodySince time.Time
	// gone: the client of the request in progress has closed or reset the connection
	// (net/http noticed and cancelled the request's context).
	gone bool
	once sync.Once
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// CloseWrite half-closes a TCP connection. net/http looks for it (on the connection it
// was given) to let a client read the last response before the connection is closed;
// hiding it behind the wrapper would turn some clean closes into resets.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Accept waits for a free slot, making one by eviction if it can, then accepts.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, net.ErrClosed
		}
		if len(l.conns) < l.max {
			l.mu.Unlock()
			break
		}
		victim, retry := l.victim(time.Now())
		if victim != nil {
			// The slot is free from now; net/http notices the close on its next read or
			// write and ends the connection, which calls Close, a no-op for the count.
			delete(l.conns, victim)
			l.mu.Unlock()
			victim.Conn.Close()
			break
		}
		l.mu.Unlock()
		t := time.NewTimer(retry)
		select {
		case <-l.wake:
		case <-l.done:
		case <-t.C:
		}
		t.Stop()
	}
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &limitedConn{Conn: c, l: l, state: http.StateNew, since: time.Now()}
	l.mu.Lock()
	l.conns[lc] = struct{}{}
	l.mu.Unlock()
	return lc, nil
}

// victim picks the connection to close to make room, the one whose loss harms least:
//
//  1. one whose client has gone in the middle of a request: closing it only frees the
//     descriptor sooner (the handler runs on; nobody reads its answer);
//  2. a new connection that has sent nothing for grace, oldest first;
//  3. one whose request body has been arriving for bodyGrace or more, longest first: a
//     real client's body arrives at once, so this is almost surely an attacker's trickle
//     (and were it a client on a very slow link, its request would fail anyway);
//  4. a keep-alive connection idle for idleGrace or more, the one that has served the
//     fewest requests first, then the longest idle: the clients that use the server most
//     keep their connections, and a connection a client has just finished with (and may be
//     about to reuse) is left alone.
//
// Connections busy with a request are never taken otherwise. With no candidate, retry
// says when the first one becomes one (a state change wakes Accept sooner). l.mu is held.
func (l *connLimiter) victim(now time.Time) (victim *limitedConn, retry time.Duration) {
	var silent, trickling, idle *limitedConn
	retry = time.Second // all busy: a state change wakes us; the timer is a backstop
	wait := func(ready time.Time) {
		if d := ready.Sub(now); d < retry {
			retry = d
		}
	}
	for c := range l.conns {
		switch c.state {
		case http.StateNew:
			if now.Sub(c.since) < l.grace {
				wait(c.since.Add(l.grace))
			} else if silent == nil || c.since.Before(silent.since) {
				silent = c
			}
		case http.StateActive:
			switch {
			case c.gone:
				return c, 0
			case c.bodySince.IsZero():
			case now.Sub(c.bodySince) < l.bodyGrace:
				wait(c.bodySince.Add(l.bodyGrace))
			case trickling == nil || c.bodySince.Before(trickling.bodySince):
				trickling = c
			}
		case http.StateIdle:
			switch {
			case now.Sub(c.since) < l.idleGrace:
				wait(c.since.Add(l.idleGrace))
			case idle == nil || c.served < idle.served || c.served == idle.served && c.since.Before(idle.since):
				idle = c
			}
		}
	}
	switch {
	case silent != nil:
		return silent, 0
	case trickling != nil:
		return trickling, 0
	case idle != nil:
		return idle, 0
	}
	return nil, max(retry, time.Millisecond)
}

// own returns the limiter's connection under nc (a *tls.Conn over it, or itself).
func (l *connLimiter) own(nc net.Conn) *limitedConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*limitedConn)
	return c
}

// track is the server's ConnState hook: it keeps each connection's state for victim.
func (l *connLimiter) track(nc net.Conn, state http.ConnState) {
	c := l.own(nc)
	if c == nil {
		return
	}
	if state == http.StateClosed {
		c.once.Do(func() { l.release(c) })
		return
	}
	l.mu.Lock()
	if state == http.StateIdle && c.state == http.StateActive {
		c.served++
	}
	c.state, c.since = state, time.Now()
	c.bodySince, c.gone = time.Time{}, false
	if state == http.StateActive {
		c.req++
	}
	l.mu.Unlock()
	if state == http.StateIdle {
		l.signal()
	}
}

// connKey is the request context key of the request's *limitedConn.
type connKey struct{}

// connContext is the server's ConnContext hook: it lets guard find the connection of a
// request.
func (l *connLimiter) connContext(ctx context.Context, nc net.Conn) context.Context {
	if c := l.own(nc); c != nil {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// guard wraps the server's handler. It bounds the time a request body may take to
// arrive (bodyTimeout, then drainWait for a body the handler left unread) and tells the
// limiter when a handler waits for a body and when a request's client has gone, so that
// victim can tell a trickling or abandoned request from one doing useful work.
// readTimeout is the server's ReadTimeout, which it restores once the body is in.
func (l *connLimiter) guard(next http.Handler, readTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c, _ := r.Context().Value(connKey{}).(*limitedConn)
		if r.ProtoMajor != 1 {
			// HTTP/2 multiplexes requests on one connection: what one stream does says
			// nothing about the others.
			c = nil
		}
		if c != nil {
			l.mu.Lock()
			req := c.req
			l.mu.Unlock()
			// The request's context is cancelled when net/http sees the client close or
			// reset the connection. stop runs before the handler's own end cancels it.
			stop := context.AfterFunc(r.Context(), func() { l.markGone(c, req) })
			defer stop()
		}
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(start.Add(bodyTimeout))
		b := &guardedBody{ReadCloser: r.Body, l: l, c: c}
		if readTimeout > 0 {
			// Once the body is in, net/http's background read (which notices a client
			// hanging up) runs under the read deadline: it must be the ReadTimeout
			// again, or a handler running past bodyTimeout would see its context
			// cancelled.
			b.restore = func() { rc.SetReadDeadline(start.Add(readTimeout)) }
		} else {
			b.restore = func() { rc.SetReadDeadline(time.Time{}) }
		}
		r.Body = b
		if r.ContentLength > 0 && r.ContentLength <= preReadMax {
			// Read a small body before the handler runs (its bytes have usually come
			// with the headers). Once it is in, net/http watches the connection and
			// cancels the request's context if the client hangs up, so a request
			// abandoned at once (a client that resets after sending, hundreds a second)
			// gives up at its first wait, for a database reader or the writer, instead
			// of holding its slot through authentication first.
			data, err := io.ReadAll(b)
			if err != nil {
				writeError(w, bodyReadError(err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(data))
		}
		next.ServeHTTP(w, r)
		if !b.finished() {
			rc.SetReadDeadline(time.Now().Add(drainWait))
		}
	})
}

// guardedBody is a request body that tells the limiter while the handler waits for it.
type guardedBody struct {
	io.ReadCloser
	l       *connLimiter
	c       *limitedConn // nil when the connection is not the limiter's
	restore func()       // puts the read deadline back once the body is in

	mu      sync.Mutex
	waiting bool
	done    bool // EOF or an error: nothing more to wait for
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	first := !b.waiting && !b.done
	b.waiting = true
	b.mu.Unlock()
	if first && b.c != nil {
		b.l.mu.Lock()
		if b.c.state == http.StateActive {
			b.c.bodySince = time.Now()
		}
		b.l.mu.Unlock()
		b.l.signal() // a waiting Accept recomputes when this one becomes a candidate
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.mu.Lock()
		last := !b.done
		b.done = true
		b.mu.Unlock()
		if last {
			if b.c != nil {
				b.l.mu.Lock()
				b.c.bodySince = time.Time{}
				b.l.mu.Unlock()
			}
			if err == io.EOF {
				b.restore()
			}
		}
	}
	return n, err
}

// finished reports whether the body was read to its end (or failed).
func (b *guardedBody) finished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// markGone notes that the client of request req on c has gone, and wakes a waiting Accept.
func (l *connLimiter) markGone(c *limitedConn, req uint64) {
	l.mu.Lock()
	ok := c.req == req && c.state == http.StateActive
	if ok {
		c.gone = true
	}
	l.mu.Unlock()
	if ok {
		l.signal()
	}
}

func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.signal()
}

func (l *connLimiter) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// live is the number of connections counted now.
func (l *connLimiter) live() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Close stops accepting; a waiting Accept returns net.ErrClosed.
func (l *connLimiter) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	l.mu.Unlock()
	return l.Listener.Close()
}
