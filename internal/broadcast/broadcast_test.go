package broadcast

import "testing"

// Every console gets its own nudge; one that stopped following gets none, and a console
// that has not read its nudge yet never holds up a publish (the request that caused it).
func TestHubBroadcast(t *testing.T) {
	var n Hub
	a, cancelA := n.Subscribe()
	b, cancelB := n.Subscribe()
	gone, cancelGone := n.Subscribe()
	cancelGone()
	cancelGone() // twice is harmless
	defer cancelA()
	defer cancelB()

	for range 3 { // b never reads: the later publishes must not block
		n.Publish()
	}
	for name, ch := range map[string]<-chan struct{}{"a": a, "b": b} {
		select {
		case <-ch:
		default:
			t.Errorf("subscriber %s got no nudge", name)
		}
	}
	select {
	case <-gone:
		t.Error("an unsubscribed console was nudged")
	default:
	}
	if got := n.Len(); got != 2 {
		t.Errorf("subscribers = %d, want 2", got)
	}
	cancelA()
	if got := n.Len(); got != 1 {
		t.Errorf("after cancel, subscribers = %d, want 1", got)
	}
}
