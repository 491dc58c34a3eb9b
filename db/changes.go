package db

import (
	"context"
	"sync"
	"time"

	"scimdesk/internal/broadcast"
)

// Change signals. A console shows what any process writes, and a server caches
// authentication; both need to hear of a write as soon as it commits, in this process or
// any other, without reading the tables again and again to find out. Writes of this
// process are announced by the writer after each commit. Writes of other processes:
//   - on PostgreSQL, every write transaction notifies (NOTIFY) and every process listens
//     (pglisten.go);
//   - on SQLite, a watcher asks SQLite's data_version every dataVersionEvery, which changes
//     when another connection (of any process) has committed: one trivial statement, no
//     table read.

// dataVersionEvery is how often the SQLite watcher looks for other processes' commits.
const dataVersionEvery = 200 * time.Millisecond

// changeHub is the broadcast of commits, whose watcher of other processes' writes starts
// on first use.
type changeHub struct {
	broadcast.Hub
	start func() // starts the watcher of other processes' writes, once, on first use
	once  sync.Once
}

func (h *changeHub) subscribe() (<-chan struct{}, func()) {
	if h.start != nil {
		h.once.Do(h.start)
	}
	return h.Subscribe()
}

// Changes returns a channel that receives a signal soon after any process commits a
// write to the database (signals coalesce: one may stand for many writes), and a function
// that ends the subscription. A console re-reads what it shows on a signal instead of
// polling.
func (d *DB) Changes() (<-chan struct{}, func()) { return d.changes.subscribe() }

// watchDataVersion signals the hub whenever SQLite's data_version moves: another
// connection, of this process or another, has committed. It asks on the checkpointer's
// connection (data_version is per connection, and that one never writes), so it takes
// nothing from the read pools.
func (d *DB) watchDataVersion() {
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var last int64 = -1
		tick := time.NewTicker(dataVersionEvery)
		defer tick.Stop()
		for {
			var v int64
			if err := d.cp.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err == nil {
				if last >= 0 && v != last {
					d.changes.Publish()
				}
				last = v
			}
			select {
			case <-d.closing:
				return
			case <-tick.C:
			}
		}
	}()
}
