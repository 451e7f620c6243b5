package hid

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Seat is one console session's place at an Arbiter. Its input reaches the machine only
// while it holds control; otherwise it is dropped and counted. Its release-all and Close act
// only while it holds control: a viewer's release-all must not lift the controller's keys.
// A Dispatcher drives it (Config.Seat); its methods are also for direct use.
type Seat struct {
	a       *Arbiter
	sid     string
	dropped atomic.Uint64

	// Guarded by a.mu.
	closed bool
	layout *Layout
	// cancel stops the text the driving Dispatcher is typing; set once by bind.
	cancel func()
	// tap receives the seat's key events as they are digested (TapKeys).
	tap KeyTap
}

// SID returns the session id the seat belongs to.
func (s *Seat) SID() string { return s.sid }

// Controls reports whether the seat holds control now.
func (s *Seat) Controls() bool {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	return s.controlsLocked()
}

func (s *Seat) controlsLocked() bool { return !s.closed && !s.a.closed && s.a.controller == s.sid }

// Dropped counts the input messages refused because the seat did not hold control.
func (s *Seat) Dropped() uint64 { return s.dropped.Load() }

// Input delivers one input message (KEY, BUTTONS, WHEEL, POINTER_ABS or POINTER_REL) if the
// seat holds control, and counts it in the controller's burst. It returns ErrNotController
// when the seat does not, ErrClosed once it or the Arbiter is closed, and the sink's error.
// POINTER_ABS is applied as given: ordering moves (SeqFilter) is the caller's part.
func (s *Seat) Input(m Message) error {
	if m == nil {
		return fmt.Errorf("hid: nil input: %w", ErrUnknownType)
	}
	if err := m.validate(); err != nil {
		return fmt.Errorf("hid: %v: %w", m.Type(), err)
	}
	if in, _ := isInput(m); !in {
		return fmt.Errorf("hid: %v is not input: %w", m.Type(), ErrUnknownType)
	}
	return s.input(m)
}

func (s *Seat) input(m Message) error {
	a := s.a
	a.mu.Lock()
	if s.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	if a.controller != s.sid || a.closed {
		closed := a.closed
		a.mu.Unlock()
		if closed {
			return ErrClosed
		}
		a.drop(s)
		return ErrNotController
	}
	err := applyInput(a.tracker, m)
	if !errors.Is(err, ErrClosed) {
		// A failed sink call may still have reached the machine: it counts.
		s.recordLocked(m)
	}
	a.mu.Unlock()
	return err
}

// admitText lets a TEXT message be queued only while the seat holds control.
func (s *Seat) admitText() error {
	s.a.mu.Lock()
	ok, closed := s.controlsLocked(), s.closed || s.a.closed
	s.a.mu.Unlock()
	switch {
	case ok:
		return nil
	case closed:
		return ErrClosed
	}
	s.a.drop(s)
	return ErrNotController
}

// keyIf is the typist's keystroke: delivered and counted only while the seat holds control
// and live() holds, both checked under the Arbiter's lock.
func (s *Seat) keyIf(live func() bool, u Usage, down bool) error {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.controlsLocked() {
		return errCanceled
	}
	err := a.tracker.keyIf(live, u, down)
	if !errors.Is(err, errCanceled) && !errors.Is(err, ErrClosed) {
		s.recordLocked(KeyMsg{Usage: u, Down: down})
	}
	return err
}

// ReleaseAll releases every held key and button if the seat holds control; otherwise it does
// nothing (what is held is the controller's).
func (s *Seat) ReleaseAll() error {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	if !s.controlsLocked() {
		return nil
	}
	return s.a.tracker.ReleaseAll()
}

func (s *Seat) releaseAll() error { return s.ReleaseAll() }

// SetLayout records the keyboard layout the seat's console says the machine uses, and
// applies it to a sink that translates keys (RFB) if the seat holds control; it reports
// whether it did. A seat that gains control later has its layout applied then.
func (s *Seat) SetLayout(l *Layout) bool {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	s.layout = l
	if !s.controlsLocked() || s.a.layouts == nil {
		return false
	}
	s.a.layouts.SetLayout(l)
	return true
}

// Close gives the seat up: if it holds control, everything held is released and control is
// freed (that stretch's burst is not reported: a caller that audits moves control away with
// SetController first, and gets the burst from it). Later input is refused with ErrClosed.
// It is idempotent and returns the release's sink error.
func (s *Seat) Close() error {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if a.seats[s.sid] == s {
		delete(a.seats, s.sid)
	}
	if a.controller != s.sid || a.closed {
		return nil
	}
	s.cancelTyping()
	a.controller = ""
	a.burst.start(a.clock.Now())
	return a.tracker.ReleaseAll()
}

func (s *Seat) close() error { return s.Close() }

func (s *Seat) held() ([]Usage, Buttons) {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	if !s.controlsLocked() {
		return nil, 0
	}
	return s.a.tracker.Held()
}

// bind ties the seat to the Dispatcher that drives it: cancel stops that Dispatcher's typing.
func (s *Seat) bind(cancel func()) error {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	if s.cancel != nil {
		return fmt.Errorf("hid: the seat of %s is already driven by a dispatcher", s.sid)
	}
	s.cancel = cancel
	return nil
}

// cancelTyping stops the seat's typing; called with a.mu held.
func (s *Seat) cancelTyping() {
	if s.cancel != nil {
		s.cancel()
	}
}
