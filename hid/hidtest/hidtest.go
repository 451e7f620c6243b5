// Package hidtest provides test doubles for package hid: a fake clock that only moves when told
// to, and a Sink that records what it receives.
package hidtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/hid"
)

// Clock is a hid.Clock whose time stands still until Advance. Timers fire synchronously inside
// Advance, in the caller's goroutine, in time order.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

// NewClock returns a Clock at a fixed, arbitrary instant.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run inside the Advance that reaches now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) hid.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, when: c.now.Add(d), f: f, active: true}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves time forward by d, firing every timer that falls due on the way, including
// timers that those callbacks set.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *timer
		for _, t := range c.timers {
			if t.active && !t.when.After(target) && (next == nil || t.when.Before(next.when)) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		if next.when.After(c.now) {
			c.now = next.when
		}
		next.active = false
		c.mu.Unlock()
		next.f()
	}
}

type timer struct {
	c      *Clock
	when   time.Time
	f      func()
	active bool
}

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *timer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.when, t.active = t.c.now.Add(d), true
	return was
}

// Event is one call a Recorder received.
type Event struct {
	Key     bool // a Key call; otherwise a Pointer call
	Usage   hid.Usage
	Down    bool
	Pointer hid.PointerEvent
}

// Down is the Event of pressing u.
func Down(u hid.Usage) Event { return Event{Key: true, Usage: u, Down: true} }

// Up is the Event of releasing u.
func Up(u hid.Usage) Event { return Event{Key: true, Usage: u} }

// Pointer is the Event of a pointer call.
func Pointer(ev hid.PointerEvent) Event { return Event{Pointer: ev} }

func (e Event) String() string {
	if e.Key {
		if e.Down {
			return fmt.Sprintf("+0x%02x", uint16(e.Usage))
		}
		return fmt.Sprintf("-0x%02x", uint16(e.Usage))
	}
	return fmt.Sprintf("pointer%+v", e.Pointer)
}

// Recorder is a hid.Sink that records every call and can be told to fail. It is safe for
// concurrent use.
type Recorder struct {
	mu      sync.Mutex
	events  []Event
	err     error
	changed chan struct{} // closed and replaced on every event
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

// Key implements hid.Sink.
func (r *Recorder) Key(u hid.Usage, down bool) error {
	return r.record(Event{Key: true, Usage: u, Down: down})
}

// Pointer implements hid.Sink.
func (r *Recorder) Pointer(ev hid.PointerEvent) error { return r.record(Pointer(ev)) }

func (r *Recorder) record(e Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
	return r.err
}

// Fail makes every later call return err (after recording it); nil heals the sink.
func (r *Recorder) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Events returns a copy of what was recorded.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Take returns what was recorded and forgets it.
func (r *Recorder) Take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// Pressed replays the recorded events and returns the keys and buttons they leave pressed,
// as the device would see them.
func (r *Recorder) Pressed() (map[hid.Usage]bool, hid.Buttons) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := map[hid.Usage]bool{}
	var buttons hid.Buttons
	for _, e := range r.events {
		switch {
		case e.Key && e.Down:
			keys[e.Usage] = true
		case e.Key:
			delete(keys, e.Usage)
		default:
			buttons = e.Pointer.Buttons
		}
	}
	return keys, buttons
}

// WaitFor blocks until at least n events are recorded or ctx ends.
func (r *Recorder) WaitFor(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		have, changed := len(r.events), r.changed
		r.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("hidtest: %d of %d events: %w", have, n, ctx.Err())
		}
	}
}
