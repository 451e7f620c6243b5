package turn

import (
	"sync/atomic"
	"time"
)

// ops counts the blocking calls pion's goroutines are making into our sockets (reads,
// accepts), so Close can return only once they have all come back: pion's Server.Close does
// not wait for its goroutines, and "every goroutine stopped by Close" is our promise.
// Atomics, not a mutex: this is on the per-packet path of every allocation.
type ops struct {
	closed   atomic.Bool
	inflight atomic.Int64
}

// enter registers a call; false once closing, and the caller must fail with net.ErrClosed.
func (o *ops) enter() bool {
	if o.closed.Load() {
		return false
	}
	o.inflight.Add(1)
	if o.closed.Load() {
		o.inflight.Add(-1)
		return false
	}
	return true
}

func (o *ops) exit() { o.inflight.Add(-1) }

// close refuses new calls.
func (o *ops) close() { o.closed.Store(true) }

// wait polls until no call is in flight or timeout passes; it reports whether they all came
// back. Called after every socket was closed, so each call is returning already.
func (o *ops) wait(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for o.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
