package db

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestWrongCodeDoesNotWaitForTheWriter: a wrong code is answered while the writer is busy
// (with SCIM provisioning, say), so a flood of guesses cannot queue up on it.
func TestWrongCodeDoesNotWaitForTheWriter(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		d := st.openDB(t)
		u, code := issueFor(t, d, "alice")
		canon, _ := NormalizeSetupCode(code)
		var wrong string
		for {
			c, err := newSetupCode()
			if err != nil {
				t.Fatal(err)
			}
			if c != canon {
				wrong = FormatSetupCode(c)
				break
			}
		}
		release, holding := make(chan struct{}), make(chan struct{})
		hold := sync.OnceFunc(func() { close(holding) }) // a write may run twice (see Write)
		writeDone := make(chan error, 1)
		go func() {
			writeDone <- d.Write(ctx, func(*Tx) error { hold(); <-release; return nil })
		}()
		<-holding
		quick, cancel := context.WithTimeout(ctx, time.Second)
		_, err := d.CheckSetupCode(quick, u.Email, wrong, PurposeSetup, time.Now())
		cancel()
		close(release)
		if err := <-writeDone; err != nil {
			t.Fatal(err)
		}
		codeErr(t, err, ErrCodeUnknown)
	})
}
