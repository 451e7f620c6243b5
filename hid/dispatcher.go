package hid

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Dispatcher defaults.
const (
	// DefaultRatePerSecond is generous: a console sends ~5 keep-alives, at most a few hundred
	// pointer moves and far fewer key events per second.
	DefaultRatePerSecond = 2000
	// DefaultTextQueue bounds the TEXT messages waiting to be typed (each ≤ 16 KiB).
	DefaultTextQueue = 8
)

// Config configures a Dispatcher. Sink or Seat is required.
type Config struct {
	// Sink is the device the Dispatcher drives alone, through a Tracker of its own.
	Sink Sink
	// Seat, instead of Sink, is the session's seat at the machine's Arbiter (shared
	// sessions): input reaches the machine only while the seat holds control, is dropped as
	// DropNotController otherwise, and the Arbiter's one Tracker holds what is pressed.
	// Close closes the seat.
	Seat *Seat
	// Clock defaults to SystemClock().
	Clock Clock
	// SilenceTimeout is how long the hid channel may stay quiet before held input is
	// released; default DefaultSilenceTimeout.
	SilenceTimeout time.Duration
	// RatePerSecond and RateBurst limit the messages accepted per channel; the rest are
	// dropped as DropFlood. Defaults: DefaultRatePerSecond, and a burst of one second's worth.
	RatePerSecond float64
	RateBurst     int
	// TextQueue is how many TEXT messages may wait to be typed; default DefaultTextQueue.
	TextQueue int
	// Layout is the target's keyboard layout, which TEXT is typed through; default LayoutEnUS().
	Layout *Layout
	// OnLayout, if set, is called with the layout a LAYOUT message names, after TEXT typing
	// switched to it: the agent hands it to sinks that translate keys themselves (RFB). With
	// a Seat, the Arbiter hands the controller's layout to its sink itself, and OnLayout is
	// called only when the seat holds control (a viewer's layout is not the machine's).
	OnLayout func(*Layout)
	// OnProbe, if set, is called with every PROBE's id (the console timing input → first
	// change), from the goroutine that handles the message.
	OnProbe func(id uint32)
	// OnSinkError, if set, is called with every sink error, from the goroutine that made the
	// call and without locks held; it may call Close. Errors are counted in Stats regardless.
	OnSinkError func(error)
}

// Dispatcher turns the console's data-channel messages into sink calls for one console
// session: it decodes and validates them, drops floods, stale moves and anything malformed,
// tracks held input and releases it when the hid channel goes quiet or the session ends.
// Driving a Seat (Config.Seat), it also drops the input of a session not in control; the
// Arbiter's tracker then holds what is pressed, and releases act only for the controller.
// HandleMessage (and its shorthands) never wait for typing; they block only for the sink
// calls of one message. Text is typed by Run.
//
// Wiring in the agent, one Dispatcher per console peer connection:
//
//	d, err := hid.NewDispatcher(hid.Config{Sink: sink})
//	go d.Run(ctx) // types TEXT; Close when ctx ends
//	hidDC.OnMessage(func(m webrtc.DataChannelMessage) { d.HandleMessage(hid.ChannelHID, m.IsString, m.Data) })
//	ptrDC.OnMessage(func(m webrtc.DataChannelMessage) { d.HandleMessage(hid.ChannelPointer, m.IsString, m.Data) })
//	hidDC.OnClose(func() { d.Close() }) // and on ICE failure, peer connection close, bye
type Dispatcher struct {
	in          inputPath
	seat        *Seat // nil when the Dispatcher drives its sink alone
	watchdog    *Watchdog
	clock       Clock
	layout      atomic.Pointer[Layout]
	onSinkError func(error)
	onProbe     func(uint32)
	onLayout    func(*Layout)
	limits      [2]*limiter
	seq         SeqFilter
	stats       Stats
	text        chan textJob

	// gen cancels typing: every release-all bumps it, and a TEXT only types while gen still
	// has the value it had when the TEXT arrived.
	gen       atomic.Uint64
	closed    atomic.Bool
	running   atomic.Bool
	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
}

// NewDispatcher returns a Dispatcher feeding cfg.Sink. Call Run to type TEXT messages and Close
// (or end Run's context) when the session ends.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	if (cfg.Sink == nil) == (cfg.Seat == nil) {
		return nil, errors.New("hid: dispatcher needs a sink or a seat")
	}
	if cfg.SilenceTimeout < 0 || cfg.RatePerSecond < 0 || cfg.RateBurst < 0 || cfg.TextQueue < 0 {
		return nil, fmt.Errorf("hid: negative dispatcher limit in %+v", cfg)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	if cfg.SilenceTimeout == 0 {
		cfg.SilenceTimeout = DefaultSilenceTimeout
	}
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond = DefaultRatePerSecond
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = max(1, int(cfg.RatePerSecond))
	}
	if cfg.TextQueue == 0 {
		cfg.TextQueue = DefaultTextQueue
	}
	if cfg.Layout == nil {
		cfg.Layout = LayoutEnUS()
	}
	d := &Dispatcher{
		seat:        cfg.Seat,
		clock:       cfg.Clock,
		onSinkError: cfg.OnSinkError,
		onProbe:     cfg.OnProbe,
		onLayout:    cfg.OnLayout,
		text:        make(chan textJob, cfg.TextQueue),
		done:        make(chan struct{}),
	}
	if cfg.Seat != nil {
		// A control change cancels the text being typed for the seat that lost it.
		if err := cfg.Seat.bind(func() { d.gen.Add(1) }); err != nil {
			return nil, err
		}
		d.in = cfg.Seat
	} else {
		d.in = ownTracker{NewTracker(cfg.Sink)}
	}
	d.layout.Store(cfg.Layout)
	now := cfg.Clock.Now()
	for i := range d.limits {
		d.limits[i] = newLimiter(cfg.RatePerSecond, cfg.RateBurst, now)
	}
	d.watchdog = NewWatchdog(cfg.Clock, cfg.SilenceTimeout, d.onSilence)
	return d, nil
}

// SetLayout changes the keyboard layout TEXT is typed through, from the next TEXT on (the
// console says which layout the target machine uses). A nil layout is en-US.
func (d *Dispatcher) SetLayout(l *Layout) {
	if l == nil {
		l = LayoutEnUS()
	}
	d.layout.Store(l)
}

// Layout returns the layout TEXT is typed through.
func (d *Dispatcher) Layout() *Layout { return d.layout.Load() }

// Stats returns the live counters.
func (d *Dispatcher) Stats() *Stats { return &d.stats }

// HandleHID handles one binary message from the "hid" data channel.
func (d *Dispatcher) HandleHID(b []byte) { d.HandleMessage(ChannelHID, false, b) }

// HandlePointer handles one binary message from the "pointer" data channel.
func (d *Dispatcher) HandlePointer(b []byte) { d.HandleMessage(ChannelPointer, false, b) }

// HandleMessage handles one data-channel message as pion delivers it (isString is
// DataChannelMessage.IsString). It does not keep b.
func (d *Dispatcher) HandleMessage(ch Channel, isString bool, b []byte) {
	if ch > ChannelPointer {
		d.stats.HID.Dropped[DropWrongChannel].Add(1)
		return
	}
	cs := d.stats.channel(ch)
	if reason, ok := d.handle(ch, isString, b); !ok {
		cs.Dropped[reason].Add(1)
		return
	}
	cs.Accepted.Add(1)
}

func (d *Dispatcher) handle(ch Channel, isString bool, b []byte) (DropReason, bool) {
	// Cheap refusals first: nothing a flooding peer sends costs more than a token check.
	switch {
	case d.closed.Load():
		return DropClosed, false
	case !d.limits[ch].allow(d.clock.Now()):
		return DropFlood, false
	case isString:
		return DropNotBinary, false
	}
	m, err := Decode(b)
	if err != nil {
		return dropReason(err), false
	}
	if m.Type().Channel() != ch {
		return DropWrongChannel, false
	}
	if ch == ChannelHID {
		d.watchdog.Kick()
	}
	return d.apply(m)
}

func (d *Dispatcher) apply(m Message) (DropReason, bool) {
	var err error
	switch m := m.(type) {
	case KeyMsg, ButtonsMsg, WheelMsg, PointerRelMsg:
		err = d.in.input(m)
	case PointerAbsMsg:
		if !d.seq.Accept(m.Seq) {
			return DropStale, false
		}
		err = d.in.input(m)
	case KeepAliveMsg:
		// Only feeds the watchdog.
	case ProbeMsg:
		if d.onProbe != nil {
			d.onProbe(m.ID)
		}
	case LayoutMsg:
		l, lerr := LayoutByName(m.Name)
		if lerr != nil {
			return DropOutOfRange, false
		}
		d.SetLayout(l)
		// A viewer's layout waits at its seat until it holds control.
		if (d.seat == nil || d.seat.SetLayout(l)) && d.onLayout != nil {
			d.onLayout(l)
		}
	case ReleaseAllMsg:
		err = d.cancelAndRelease()
	case TextMsg:
		if err := d.in.admitText(); err != nil {
			return inputDropReason(err), false
		}
		select {
		case d.text <- textJob{text: m.Text, gen: d.gen.Load()}:
		default:
			return DropTextQueueFull, false
		}
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrNotController) {
		return inputDropReason(err), false
	}
	d.sinkError(err)
	return 0, true
}

// inputDropReason is the drop reason of an input path's refusal.
func inputDropReason(err error) DropReason {
	if errors.Is(err, ErrNotController) {
		return DropNotController
	}
	return DropClosed
}

// cancelAndRelease stops typing, then releases everything (with a Seat: only if it holds
// control). Order matters: a keystroke checks gen under the tracker's lock, so none can land
// after ReleaseAll takes it.
func (d *Dispatcher) cancelAndRelease() error {
	d.gen.Add(1)
	return d.in.releaseAll()
}

func (d *Dispatcher) onSilence() {
	d.stats.SilenceReleases.Add(1)
	d.sinkError(d.cancelAndRelease())
}

func (d *Dispatcher) sinkError(err error) {
	if err == nil {
		return
	}
	d.stats.SinkErrors.Add(1)
	if d.onSinkError != nil {
		d.onSinkError(err)
	}
}

// Run types queued TEXT messages until ctx ends or Close is called, then closes the Dispatcher
// (releasing everything). It returns nil; the release's error is Close's.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("hid: Dispatcher.Run called twice")
	}
	defer d.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.done:
			return nil
		case job := <-d.text:
			d.typeText(ctx, job)
		}
	}
}

// Close stops the Dispatcher: later messages are dropped, typing stops, the watchdog is
// stopped and every held key and button is released. Call it when the console disconnects,
// its data channel closes or ICE fails. It is idempotent and returns the release's error.
func (d *Dispatcher) Close() error {
	first := false
	d.closeOnce.Do(func() {
		first = true
		d.closed.Store(true)
		d.gen.Add(1)
		d.watchdog.Stop()
		close(d.done)
		d.closeErr = d.in.close()
		for drained := false; !drained; {
			select {
			case <-d.text:
				d.stats.TextCanceled.Add(1)
			default:
				drained = true
			}
		}
	})
	if first {
		// Outside the Once: OnSinkError may call Close.
		d.sinkError(d.closeErr)
	}
	return d.closeErr
}

func dropReason(err error) DropReason {
	switch {
	case errors.Is(err, ErrTooLarge):
		return DropTooLarge
	case errors.Is(err, ErrTooShort):
		return DropTooShort
	case errors.Is(err, ErrBadLength):
		return DropBadLength
	case errors.Is(err, ErrUnknownType):
		return DropUnknownType
	case errors.Is(err, ErrInvalidUTF8):
		return DropInvalidUTF8
	}
	return DropOutOfRange
}
