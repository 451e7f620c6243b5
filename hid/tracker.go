package hid

import (
	"errors"
	"fmt"
	"sync"
)

// Tracker wraps a Sink and remembers what is held, so that everything can be released when the
// console goes away. Key downs and ups are idempotent: a down for a held key and an up for a key
// not held never reach the sink, so a repeated or late message cannot unbalance the device.
// Tracker serializes all calls to the sink; it is safe for concurrent use.
type Tracker struct {
	mu      sync.Mutex
	sink    Sink
	keys    [4]uint64 // bit set of held usages 0–255
	buttons Buttons
	// Where the pointer is, for events that carry no position (wheel, button changes in
	// relative mode): the last absolute position when abs is true.
	abs    bool
	x, y   int
	closed bool
}

// NewTracker returns a Tracker delivering to sink.
func NewTracker(sink Sink) *Tracker { return &Tracker{sink: sink} }

// Key presses or releases a key; it implements Sink.
func (t *Tracker) Key(u Usage, down bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.keyLocked(u, down)
}

// keyIf is Key, done only if live() still holds once the tracker is locked. The text typist
// uses it so that a release-all racing with a keystroke always wins: either the stroke happens
// first and is released, or it sees the cancellation and does not happen.
func (t *Tracker) keyIf(live func() bool, u Usage, down bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !live() {
		return errCanceled
	}
	return t.keyLocked(u, down)
}

func (t *Tracker) keyLocked(u Usage, down bool) error {
	if u > 0xFF {
		return fmt.Errorf("hid: key usage 0x%04x: %w", uint16(u), ErrOutOfRange)
	}
	word, bit := u/64, uint64(1)<<(u%64)
	held := t.keys[word]&bit != 0
	switch {
	case down && held, !down && !held:
		return nil
	case down && t.closed:
		return ErrClosed
	}
	err := t.sink.Key(u, down)
	// A failed down may still have reached the device, so it counts as held and is released
	// later; a failed up keeps the key held so the next release-all retries it.
	if down {
		t.keys[word] |= bit
	} else if err == nil {
		t.keys[word] &^= bit
	}
	if err != nil {
		return fmt.Errorf("hid: sink key 0x%02x down=%t: %w", uint16(u), down, err)
	}
	return nil
}

// Pointer forwards ev and records its buttons and position; it implements Sink.
func (t *Tracker) Pointer(ev PointerEvent) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pointerLocked(ev)
}

func (t *Tracker) pointerLocked(ev PointerEvent) error {
	// Once closed, only the release of held buttons gets through.
	if t.closed && (ev.Buttons != 0 || t.buttons == 0) {
		return ErrClosed
	}
	err := t.sink.Pointer(ev)
	t.abs = ev.Absolute
	if ev.Absolute {
		t.x, t.y = ev.X, ev.Y
	}
	if err != nil {
		// As with keys: keep anything that may be pressed, so release-all retries it.
		t.buttons |= ev.Buttons
		return fmt.Errorf("hid: sink pointer: %w", err)
	}
	t.buttons = ev.Buttons
	return nil
}

// here is an event that leaves the pointer where it is, with the held buttons.
func (t *Tracker) here() PointerEvent {
	if !t.abs {
		return PointerEvent{Buttons: t.buttons}
	}
	return PointerEvent{Absolute: true, X: t.x, Y: t.y, Buttons: t.buttons}
}

// SetButtons changes the button mask where the pointer is.
func (t *Tracker) SetButtons(b Buttons) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := t.here()
	ev.Buttons = b
	return t.pointerLocked(ev)
}

// SetButtonsAt changes the button mask at an absolute position.
func (t *Tracker) SetButtonsAt(b Buttons, x, y int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pointerLocked(PointerEvent{Absolute: true, X: x, Y: y, Buttons: b})
}

// MoveAbs moves the pointer to an absolute position with the held buttons.
func (t *Tracker) MoveAbs(x, y int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := t.here()
	ev.Absolute, ev.X, ev.Y = true, x, y
	return t.pointerLocked(ev)
}

// MoveRel moves the pointer relatively with button mask b.
func (t *Tracker) MoveRel(b Buttons, dx, dy int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pointerLocked(PointerEvent{DX: dx, DY: dy, Buttons: b})
}

// Wheel scrolls where the pointer is.
func (t *Tracker) Wheel(dx, dy int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := t.here()
	ev.WheelX, ev.WheelY = dx, dy
	return t.pointerLocked(ev)
}

// ReleaseAll releases every held key and button: ordinary keys first, then buttons, then
// modifiers, so that nothing is seen unmodified on the way out (Ctrl+Alt+Del releases Del
// before Ctrl). It tries everything and returns every sink error.
func (t *Tracker) ReleaseAll() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.releaseAllLocked()
}

func (t *Tracker) releaseAllLocked() error {
	var errs []error
	release := func(u Usage) {
		if err := t.keyLocked(u, false); err != nil {
			errs = append(errs, err)
		}
	}
	for u := Usage(0); u <= 0xFF; u++ {
		if !u.IsModifier() {
			release(u)
		}
	}
	if t.buttons != 0 {
		ev := t.here()
		ev.Buttons = 0
		if err := t.pointerLocked(ev); err != nil {
			errs = append(errs, err)
		}
	}
	for u := UsageLeftCtrl; u <= UsageRightGUI; u++ {
		release(u)
	}
	return errors.Join(errs...)
}

// Close releases everything and refuses new presses from then on; releases still pass.
func (t *Tracker) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return t.releaseAllLocked()
}

// Held returns the held keys in ascending order and the held buttons.
func (t *Tracker) Held() ([]Usage, Buttons) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keys []Usage
	for u := Usage(0); u <= 0xFF; u++ {
		if t.keys[u/64]&(1<<(u%64)) != 0 {
			keys = append(keys, u)
		}
	}
	return keys, t.buttons
}

var errCanceled = errors.New("hid: typing canceled")
