// Package keyframe throttles keyframe requests. Receivers ask for a keyframe (RTCP PLI/FIR)
// whenever they lose a packet and often ask again before the first answer arrives; every
// keyframe costs several frames' worth of bits, so answering each request would flood the
// link and cause the next loss. The Limiter answers the first request at once (the viewer
// connecting must not wait) and then at most one every interval, folding the rest into one
// pending request so none is lost.
package keyframe

import (
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/media"
)

// Limiter decides when a requested keyframe may be produced. Request may be called from any
// goroutine; Due and Sent from the encoding goroutine.
type Limiter struct {
	clock    media.Clock
	interval time.Duration

	mu        sync.Mutex
	pending   bool
	requested bool // a request has been granted before: the next ones are throttled
	last      time.Time
	haveLast  bool
}

// NewLimiter returns a Limiter that allows one forced keyframe per interval, timed by clock.
func NewLimiter(interval time.Duration, clock media.Clock) *Limiter {
	return &Limiter{clock: clock, interval: interval}
}

// Request asks for a keyframe as soon as the throttle allows.
func (l *Limiter) Request() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = true
}

// Due reports whether the next frame must be forced to a keyframe, and if so consumes the
// pending request. A request that is not due yet stays pending.
func (l *Limiter) Due() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.pending {
		return false
	}
	if l.requested && l.haveLast && l.clock.Now().Sub(l.last) < l.interval {
		return false
	}
	l.pending = false
	l.requested = true
	return true
}

// Sent records that a keyframe went out, forced or not; the throttle interval restarts.
func (l *Limiter) Sent() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = l.clock.Now()
	l.haveLast = true
}

// Pending reports whether a request waits for the throttle.
func (l *Limiter) Pending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending
}
