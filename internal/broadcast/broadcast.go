// Package broadcast fans a "something changed" signal out to any number of subscribers
// without ever blocking the publisher: each subscriber has a channel of its own with room
// for one signal, so a slow one is skipped, and a subscriber that was busy sees one signal
// for many changes, which is all it needs (it then reads what is new).
package broadcast

import "sync"

// Hub is a set of subscribers. Its zero value is ready to use.
type Hub struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// Subscribe adds a subscriber; cancel removes it (and may be called more than once).
func (h *Hub) Subscribe() (signals <-chan struct{}, cancel func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan struct{}]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// Publish signals every subscriber without blocking: one with a signal still pending is
// skipped.
func (h *Hub) Publish() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Len is how many subscribers there are now.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
