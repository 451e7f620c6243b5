package usbgadget

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/hid"
)

// Sink writes keyboard and mouse reports to a USB gadget and reads back the keyboard LEDs. Key
// and Pointer calls are serialized; Close may come from any goroutine.
type Sink struct {
	log *slog.Logger

	mu       sync.Mutex // serializes writes and guards the state below
	kbd      *endpoint
	abs, rel *endpoint // either may be nil
	state    keyboard
	x, y     int // last absolute position, for button changes that carry none
	closed   bool

	leds   ledState
	ledsIn *os.File // the keyboard's output reports: kbd's file on a real gadget
	done   chan struct{}
	wg     sync.WaitGroup
	stats  counters
}

// Sink implements device.Sink and hid.LEDReporter.
var (
	_ device.Sink     = (*Sink)(nil)
	_ hid.LEDReporter = (*Sink)(nil)
)

// ErrClosed is returned by input after Close.
var ErrClosed = errors.New("usbgadget: closed")

// NewSink is the device.SinkFactory of usb-gadget specs.
func NewSink(spec *url.URL) (device.Sink, error) {
	p, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return Open(p)
}

// Open opens the gadget's devices.
func Open(p Paths) (*Sink, error) {
	return open(p, defaultWriteTimeout, defaultStalledTimeout)
}

func open(p Paths, timeout, stalled time.Duration) (s *Sink, err error) {
	var eps []*endpoint
	defer func() {
		if err != nil {
			for _, e := range eps {
				e.close()
			}
		}
	}()
	openOne := func(name, path string, flag int) (*endpoint, error) {
		if path == "" {
			return nil, nil
		}
		e, err := openEndpoint(name, path, flag, timeout, stalled)
		if err == nil {
			eps = append(eps, e)
		}
		return e, err
	}
	// The keyboard is read too: the host's LED output reports arrive on the same device.
	kbd, err := openOne("keyboard", p.Keyboard, os.O_RDWR)
	if err != nil {
		return nil, err
	}
	abs, err := openOne("absolute mouse", p.Absolute, os.O_WRONLY)
	if err != nil {
		return nil, err
	}
	rel, err := openOne("relative mouse", p.Relative, os.O_WRONLY)
	if err != nil {
		return nil, err
	}
	return start(kbd, kbd.f, abs, rel), nil
}

// start starts the LED reader on ledsIn and returns the sink.
func start(kbd *endpoint, ledsIn *os.File, abs, rel *endpoint) *Sink {
	s := &Sink{
		log:    slog.Default().With("hid", Scheme),
		kbd:    kbd,
		abs:    abs,
		rel:    rel,
		ledsIn: ledsIn,
		done:   make(chan struct{}),
	}
	s.leds.init()
	s.wg.Add(1)
	go s.readLEDs()
	return s
}

// Key presses or releases a key. Every call writes a report, even when the state did not
// change: a release retried after a failed write puts the host back in step.
func (s *Sink) Key(u hid.Usage, down bool) error {
	if !u.Valid() {
		return fmt.Errorf("usbgadget: key usage 0x%02x: %w", uint16(u), hid.ErrOutOfRange)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.state.set(u, down)
	if len(s.state.held) > keySlots {
		s.stats.rollover.Add(1)
	}
	r := s.state.report()
	return s.send(s.kbd, r[:])
}

// Pointer moves the pointer, changes buttons or scrolls.
func (s *Sink) Pointer(ev hid.PointerEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	switch {
	case ev.Absolute && s.abs != nil:
		s.x, s.y = ev.X, ev.Y
		return s.sendAbsolute(ev.Buttons, ev.WheelX, ev.WheelY)
	case !ev.Absolute && s.rel != nil:
		return s.sendRelative(ev.Buttons, ev.DX, ev.DY, ev.WheelX, ev.WheelY)
	case ev.Absolute:
		// Only a relative mouse: keep buttons and wheel, drop the position.
		s.dropped("absolute position", "add the absolute mouse (/dev/hidg1) to --hid")
		return s.sendRelative(ev.Buttons, 0, 0, ev.WheelX, ev.WheelY)
	default:
		// Only an absolute mouse: keep buttons and wheel where the pointer is.
		if ev.DX != 0 || ev.DY != 0 {
			s.dropped("relative motion", "add the relative mouse (/dev/hidg2) to --hid")
		}
		return s.sendAbsolute(ev.Buttons, ev.WheelX, ev.WheelY)
	}
}

func (s *Sink) sendAbsolute(b hid.Buttons, wheelX, wheelY int) error {
	for _, r := range absoluteReports(b, s.x, s.y, wheelX, wheelY) {
		if err := s.send(s.abs, r[:]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) sendRelative(b hid.Buttons, dx, dy, wheelX, wheelY int) error {
	for _, r := range relativeReports(b, dx, dy, wheelX, wheelY) {
		if err := s.send(s.rel, r[:]); err != nil {
			return err
		}
	}
	return nil
}

// dropped counts motion the configured mice cannot express, warning once.
func (s *Sink) dropped(what, fix string) {
	if s.stats.motionDropped.Add(1) == 1 {
		s.log.Warn("usb gadget: pointer motion dropped, no mouse of that kind", "what", what, "fix", fix)
	}
}

func (s *Sink) send(e *endpoint, report []byte) error {
	if err := e.write(report); err != nil {
		s.stats.writeErrors.Add(1)
		if errors.Is(err, ErrHostNotReading) {
			s.stats.hostNotReading.Add(1)
		}
		return err
	}
	s.stats.reports.Add(1)
	return nil
}

// Close releases every key and button on the host as far as it still reads, closes the devices
// and stops the LED reader.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var errs []error
	if s.state.mods != 0 || len(s.state.held) > 0 {
		s.state = keyboard{}
		r := s.state.report()
		// Best effort: a host that is gone has nothing held.
		if err := s.send(s.kbd, r[:]); err != nil {
			s.log.Debug("usb gadget: release on close", "err", err)
		}
	}
	for _, e := range []*endpoint{s.kbd, s.abs, s.rel} {
		if e != nil {
			errs = append(errs, e.close())
		}
	}
	if s.ledsIn != s.kbd.f {
		errs = append(errs, s.ledsIn.Close())
	}
	close(s.done)
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(errs...)
}

// Stats are the sink's counters.
type Stats struct {
	// Reports is how many reports the host was given.
	Reports uint64
	// WriteErrors counts failed writes; HostNotReading those the host did not take in time.
	WriteErrors, HostNotReading uint64
	// MotionDropped counts pointer events whose motion no configured mouse can express.
	MotionDropped uint64
	// Rollover counts key presses beyond the six a boot report carries.
	Rollover uint64
}

type counters struct {
	reports, writeErrors, hostNotReading, motionDropped, rollover atomic.Uint64
}

// Stats returns the counters.
func (s *Sink) Stats() Stats {
	return Stats{
		Reports:        s.stats.reports.Load(),
		WriteErrors:    s.stats.writeErrors.Load(),
		HostNotReading: s.stats.hostNotReading.Load(),
		MotionDropped:  s.stats.motionDropped.Load(),
		Rollover:       s.stats.rollover.Load(),
	}
}
