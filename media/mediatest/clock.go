// Package mediatest holds test helpers for media and the packages that use it: a Clock that
// only moves when the test says so.
package mediatest

import (
	"context"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/media"
)

// Clock is a media.Clock whose time moves only by Advance. Timers fire during Advance when
// their deadline is reached. Safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*timer]struct{}
	// changed is closed and replaced whenever the set of timers changes, so WaitTimers can
	// block without polling.
	changed chan struct{}
}

var _ media.Clock = (*Clock)(nil)

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, timers: map[*timer]struct{}{}, changed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires once the clock has advanced by d.
func (c *Clock) NewTimer(d time.Duration) media.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{clock: c, when: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers[t] = struct{}{}
	c.notifyLocked()
	return t
}

// Advance moves the clock forward by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	fired := false
	for t := range c.timers {
		if !t.when.After(c.now) {
			t.ch <- c.now // cap 1, sent at most once
			delete(c.timers, t)
			fired = true
		}
	}
	if fired {
		c.notifyLocked()
	}
}

// Timers reports how many timers are waiting.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NextDeadline returns the earliest deadline of a waiting timer.
func (c *Clock) NextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first time.Time
	for t := range c.timers {
		if first.IsZero() || t.when.Before(first) {
			first = t.when
		}
	}
	return first, !first.IsZero()
}

// WaitTimers blocks until at least n timers are waiting (some goroutine is parked on the
// clock), or ctx ends.
func (c *Clock) WaitTimers(ctx context.Context, n int) error {
	return c.waitUntil(ctx, func() bool { return len(c.timers) >= n })
}

// WaitDeadline blocks until a timer due at exactly deadline is waiting, or ctx ends: the
// goroutine under test has parked until then.
func (c *Clock) WaitDeadline(ctx context.Context, deadline time.Time) error {
	return c.waitUntil(ctx, func() bool {
		for t := range c.timers {
			if t.when.Equal(deadline) {
				return true
			}
		}
		return false
	})
}

// waitUntil blocks until cond (called with c.mu held) holds, re-checking whenever the set of
// timers changes.
func (c *Clock) waitUntil(ctx context.Context, cond func() bool) error {
	for {
		c.mu.Lock()
		ok, changed := cond(), c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type timer struct {
	clock *Clock
	when  time.Time
	ch    chan time.Time
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.timers[t]; !ok {
		return false
	}
	delete(c.timers, t)
	c.notifyLocked()
	return true
}
