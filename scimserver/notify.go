package scimserver

import "sync"

// nudges is the server's broadcast to the consoles that follow it (the local one and one
// per SSH session): each subscriber has a channel of its own with room for one nudge, so a
// publish never waits for a slow console, and a console that was busy sees one nudge for
// many events, which is all it needs (it then reads everything new from the database).
type nudges struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// subscribe adds a subscriber; cancel removes it (and may be called more than once).
func (n *nudges) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[chan struct{}]struct{}{}
	}
	n.subs[ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(n.subs, ch)
		n.mu.Unlock()
	}
}

// publish nudges every subscriber without blocking: a subscriber with a nudge still
// pending is skipped.
func (n *nudges) publish() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// subscribers is how many consoles follow the server now.
func (n *nudges) subscribers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.subs)
}

// Subscribers is how many consoles follow the server now (each SSH session has one, the
// local console another), so that a console that closed can be seen to have let go.
func (s *Server) Subscribers() int { return s.nudges.subscribers() }
