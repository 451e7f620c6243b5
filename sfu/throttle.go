package sfu

import (
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/media"
)

// keyframeThrottle folds keyframe requests into at most one upstream request per interval.
// The first request after a quiet spell goes out at once (a viewer joining must not wait).
// Requests that come while one is outstanding ask for the keyframe already on its way, so a
// keyframe arriving satisfies them; if none arrives within the interval (the request or the
// keyframe was lost) the pending ones go out again. media/keyframe.Limiter throttles the same
// way for an encoder, but it cannot be told a keyframe already answered what is pending, and
// it is polled per frame where this must fire on its own. Not safe for concurrent use.
type keyframeThrottle struct {
	interval time.Duration
	pending  bool
	last     time.Time
	sentAny  bool
}

// request records a request; send reports it may go upstream now.
func (k *keyframeThrottle) request(now time.Time) (send bool) {
	k.pending = true
	send, _ = k.poll(now)
	return send
}

// satisfied records that a keyframe arrived: it answers everything pending.
func (k *keyframeThrottle) satisfied() { k.pending = false }

// poll reports whether a pending request may go out now; if one waits for the throttle, wait
// is how long.
func (k *keyframeThrottle) poll(now time.Time) (send bool, wait time.Duration) {
	if !k.pending {
		return false, 0
	}
	if since := now.Sub(k.last); k.sentAny && since < k.interval {
		return false, k.interval - since
	}
	k.pending, k.last, k.sentAny = false, now, true
	return true, 0
}

// keyframeRequester runs a keyframeThrottle: it calls send from its own goroutine, once per
// request let through, and fires pending requests when the throttle allows.
type keyframeRequester struct {
	clock media.Clock
	send  func()

	mu       sync.Mutex
	throttle keyframeThrottle
	asked    uint64 // requests made
	sent     uint64 // requests let through

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newKeyframeRequester(clock media.Clock, interval time.Duration, send func()) *keyframeRequester {
	k := &keyframeRequester{
		clock: clock, send: send, throttle: keyframeThrottle{interval: interval},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go k.run()
	return k
}

// request asks for a keyframe; any goroutine.
func (k *keyframeRequester) request() {
	k.mu.Lock()
	k.asked++
	k.throttle.pending = true
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default: // a wake-up is already on its way: it sees this request too
	}
}

// satisfied reports that a keyframe arrived.
func (k *keyframeRequester) satisfied() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.throttle.satisfied()
}

// counts returns the requests made and let through.
func (k *keyframeRequester) counts() (asked, sent uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.asked, k.sent
}

// close stops the goroutine and waits for it; a send in progress finishes first.
func (k *keyframeRequester) close() {
	close(k.stop)
	<-k.done
}

func (k *keyframeRequester) run() {
	defer close(k.done)
	var timer media.Timer
	var fired <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-k.stop:
			return
		case <-k.wake:
		case <-fired:
			timer, fired = nil, nil
		}
		k.mu.Lock()
		send, wait := k.throttle.poll(k.clock.Now())
		if send {
			k.sent++
		}
		k.mu.Unlock()
		if send {
			k.send()
		}
		// One timer at a time: while it runs, the throttle's deadline cannot move (it only
		// moves when a request goes out, and none can before the deadline).
		if wait > 0 && fired == nil {
			timer = k.clock.NewTimer(wait)
			fired = timer.C()
		}
	}
}
