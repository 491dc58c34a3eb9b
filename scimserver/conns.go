package scimserver

import (
	"crypto/tls"
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

// connLimiter caps the live connections of a listener. Without a cap, ~20,000 idle
// keep-alive connections from one client use up the descriptors and nobody else can
// connect.
//
// When the cap is reached it does not refuse the next client: it makes room by closing the
// connection that has been idle longest (a keep-alive connection between requests, which
// any HTTP client must expect to be closed), or else the oldest connection that has not
// sent its first request within newConnGrace. So an attacker who holds connections open
// without using them cannot lock out real clients; they only lose their own connections.
// Only when every connection is busy with a request does Accept wait for one to end, and
// busy connections are bounded in time by the server's read, write and header timeouts.
//
// Connection states come from http.Server.ConnState (see track); the limiter sits under a
// TLS listener, so that net/http still sees its *tls.Conn.
type connLimiter struct {
	net.Listener
	max   int
	grace time.Duration

	mu     sync.Mutex
	conns  map[*limitedConn]struct{}
	closed bool
	wake   chan struct{} // a slot was freed or a connection went idle
	done   chan struct{} // closed by Close
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	if max <= 0 {
		max = DefaultMaxConns
	}
	return &connLimiter{Listener: ln, max: max, grace: newConnGrace, conns: map[*limitedConn]struct{}{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// limitedConn is a connection counted by the limiter, with its HTTP state.
type limitedConn struct {
	net.Conn
	l     *connLimiter
	state http.ConnState // guarded by l.mu
	since time.Time      // when it entered state; guarded by l.mu
	once  sync.Once
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
			// The slot is free from now; net/http notices the close on its next read
			// and ends the connection, which calls Close, a no-op for the count.
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

// victim picks the connection to close to make room: the longest idle, else the oldest
// new one past its grace. With none, retry says when to look again. l.mu is held.
func (l *connLimiter) victim(now time.Time) (victim *limitedConn, retry time.Duration) {
	var idle, silent *limitedConn
	for c := range l.conns {
		switch c.state {
		case http.StateIdle:
			if idle == nil || c.since.Before(idle.since) {
				idle = c
			}
		case http.StateNew:
			if silent == nil || c.since.Before(silent.since) {
				silent = c
			}
		}
	}
	switch {
	case idle != nil:
		return idle, 0
	case silent != nil && now.Sub(silent.since) >= l.grace:
		return silent, 0
	case silent != nil:
		return nil, l.grace - now.Sub(silent.since)
	}
	return nil, time.Second // all busy: a state change wakes us; the timer is a backstop
}

// track is the server's ConnState hook: it keeps each connection's state for victim.
func (l *connLimiter) track(nc net.Conn, state http.ConnState) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*limitedConn)
	if !ok {
		return
	}
	if state == http.StateClosed {
		c.once.Do(func() { l.release(c) })
		return
	}
	l.mu.Lock()
	c.state, c.since = state, time.Now()
	l.mu.Unlock()
	if state == http.StateIdle {
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
