package hid

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNotController is returned for input from a seat that does not hold control: it never
// reaches the device.
var ErrNotController = errors.New("hid: this seat does not hold control")

// ArbiterConfig configures an Arbiter. Only Sink is required.
type ArbiterConfig struct {
	// Sink is the machine's input; the Arbiter serializes every call to it.
	Sink Sink
	// Clock times bursts; default SystemClock().
	Clock Clock
	// OnDrop, if set, is called with a seat's session id for every input message dropped
	// because the seat does not hold control (metrics), from the goroutine that handed it
	// in and without locks held.
	OnDrop func(sid string)
}

// Arbiter shares one machine's input among several console sessions (shared sessions): it
// owns the only held-key Tracker over the machine's sink, gives each session a Seat, and
// lets input through from the controller's seat alone. Control moves with SetController,
// which releases everything held first, so one console's keys can neither mix with nor be
// lifted by another's. It counts and digests the controller's input for the audit chain
// (Burst, TakeBurst; the package doc defines the digest). It is safe for concurrent use.
//
// Wiring in the agent, one Arbiter per machine and one Seat per console session:
//
//	arb, err := hid.NewArbiter(hid.ArbiterConfig{Sink: sink})
//	seat, err := arb.Seat(sid)
//	d, err := hid.NewDispatcher(hid.Config{Seat: seat}) // Close closes the seat
//	prev, err := arb.SetController(sid)                 // prev: the last controller's burst
type Arbiter struct {
	clock  Clock
	onDrop func(string)
	// layouts is the sink when it translates keys itself (RFB): the controller's layout.
	layouts LayoutSink

	// mu orders everything that reaches the tracker, and control changes among them: a seat
	// checks it holds control and delivers under it, so no input of a former controller can
	// land after SetController's release.
	mu         sync.Mutex
	tracker    *Tracker
	seats      map[string]*Seat
	controller string
	burst      burstDigest
	closed     bool
}

// NewArbiter returns an Arbiter over cfg.Sink with nobody in control.
func NewArbiter(cfg ArbiterConfig) (*Arbiter, error) {
	if cfg.Sink == nil {
		return nil, errors.New("hid: arbiter needs a sink")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	a := &Arbiter{clock: cfg.Clock, onDrop: cfg.OnDrop, tracker: NewTracker(cfg.Sink), seats: make(map[string]*Seat)}
	a.layouts, _ = cfg.Sink.(LayoutSink)
	a.burst.start(cfg.Clock.Now())
	return a, nil
}

// Seat gives session sid its seat. A session has one seat at a time: a second one for the
// same sid is refused until the first is closed.
func (a *Arbiter) Seat(sid string) (*Seat, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, fmt.Errorf("hid: seat for %s: %w", sid, ErrClosed)
	}
	if sid == "" {
		return nil, errors.New("hid: a seat needs a session id")
	}
	if _, taken := a.seats[sid]; taken {
		return nil, fmt.Errorf("hid: session %s already has a seat", sid)
	}
	s := &Seat{a: a, sid: sid}
	a.seats[sid] = s
	return s, nil
}

// Controller returns the session in control; "" when nobody holds it.
func (a *Arbiter) Controller() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.controller
}

// SetController gives control to session sid ("" frees it). When control changes it first
// cancels the text the previous controller's seat is typing and releases every held key and
// button through the one tracker, then switches, and applies the new controller's keyboard
// layout to a sink that translates keys. It returns the previous controller's burst (zero
// when nobody held control) and the release's sink error. Naming the controller again
// changes nothing. sid need not have a seat yet: its input counts from the moment it has one.
func (a *Arbiter) SetController(sid string) (Burst, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sid == a.controller || a.closed {
		return Burst{}, nil
	}
	now := a.clock.Now()
	var prev Burst
	if a.controller != "" {
		prev = a.burst.snapshot(a.controller, now)
		if s := a.seats[a.controller]; s != nil {
			s.cancelTyping()
		}
	}
	// Nothing should be held without a controller; releasing anyway costs a scan.
	err := a.tracker.ReleaseAll()
	a.controller = sid
	a.burst.start(now)
	if s := a.seats[sid]; s != nil && s.layout != nil && a.layouts != nil {
		a.layouts.SetLayout(s.layout)
	}
	if err != nil {
		return prev, fmt.Errorf("hid: release for a control change: %w", err)
	}
	return prev, nil
}

// Burst returns the controller's burst so far without restarting it; ok is false when
// nobody holds control.
func (a *Arbiter) Burst() (b Burst, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.controller == "" {
		return Burst{}, false
	}
	return a.burst.snapshot(a.controller, a.clock.Now()), true
}

// TakeBurst returns the controller's burst so far and starts a new one for it (a long
// stretch of control is reported in parts); ok is false when nobody holds control.
func (a *Arbiter) TakeBurst() (b Burst, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.controller == "" {
		return Burst{}, false
	}
	now := a.clock.Now()
	b = a.burst.snapshot(a.controller, now)
	a.burst.start(now)
	return b, true
}

// Held returns what the machine holds pressed: keys in ascending order, and buttons.
func (a *Arbiter) Held() ([]Usage, Buttons) { return a.tracker.Held() }

// Close releases everything, frees control and refuses presses from then on (the machine
// is forgotten). It returns the release's sink error.
func (a *Arbiter) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	if s := a.seats[a.controller]; s != nil {
		s.cancelTyping()
	}
	a.controller = ""
	return a.tracker.Close()
}

// drop counts input refused from a seat; called without a.mu held.
func (a *Arbiter) drop(s *Seat) {
	s.dropped.Add(1)
	if a.onDrop != nil {
		a.onDrop(s.sid)
	}
}
