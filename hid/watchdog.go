package hid

import (
	"sync"
	"time"
)

// DefaultSilenceTimeout is how long the hid channel may stay quiet before held input is
// released: the console sends a keep-alive every 200 ms, so this tolerates two lost ones.
const DefaultSilenceTimeout = 500 * time.Millisecond

// Watchdog calls onSilence once when Kick has not been called for the timeout, then stays
// quiet until the next Kick. It owns no goroutine of its own: a single timer, stopped by Stop.
type Watchdog struct {
	clock     Clock
	timeout   time.Duration
	onSilence func()

	mu      sync.Mutex
	timer   Timer // created by the first Kick
	last    time.Time
	armed   bool
	stopped bool
}

// NewWatchdog returns a stopped-until-kicked watchdog.
func NewWatchdog(clock Clock, timeout time.Duration, onSilence func()) *Watchdog {
	return &Watchdog{clock: clock, timeout: timeout, onSilence: onSilence}
}

// Kick records activity. It is cheap on the hot path: the timer is only touched when it was
// not running; a running timer notices the newer activity when it fires and sleeps again.
func (w *Watchdog) Kick() {
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.last = now
	if w.armed {
		return
	}
	w.armed = true
	if w.timer == nil {
		w.timer = w.clock.AfterFunc(w.timeout, w.fire)
	} else {
		w.timer.Reset(w.timeout)
	}
}

func (w *Watchdog) fire() {
	w.mu.Lock()
	if w.stopped || !w.armed {
		w.mu.Unlock()
		return
	}
	if left := w.timeout - w.clock.Now().Sub(w.last); left > 0 {
		w.timer.Reset(left)
		w.mu.Unlock()
		return
	}
	w.armed = false
	w.mu.Unlock()
	w.onSilence()
}

// Stop disarms the watchdog for good. A callback already running may still finish.
func (w *Watchdog) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}
