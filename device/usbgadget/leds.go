package usbgadget

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/hid"
)

// ledState is the last LED report and a channel closed when it changes.
type ledState struct {
	mu      sync.Mutex
	leds    hid.LEDs
	changed chan struct{}
}

func (l *ledState) init() { l.changed = make(chan struct{}) }

func (l *ledState) get() (hid.LEDs, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leds, l.changed
}

func (l *ledState) set(v hid.LEDs) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v == l.leds {
		return false
	}
	l.leds = v
	close(l.changed)
	l.changed = make(chan struct{})
	return true
}

// LEDs returns the keyboard LEDs the host last set and a channel closed at the next change.
// Before the host sets them, all are off.
func (s *Sink) LEDs() (hid.LEDs, <-chan struct{}) { return s.leds.get() }

// Done is closed by Close: watchers of LEDs stop then.
func (s *Sink) Done() <-chan struct{} { return s.done }

// ledRetry is how long the reader waits after an unexpected read error before reading again.
const ledRetry = time.Second

// readLEDs reads the host's output reports until Close. The boot keyboard's output report is
// one byte; a longer read is one report too, of which the first byte counts.
func (s *Sink) readLEDs() {
	defer s.wg.Done()
	var buf [64]byte
	for {
		n, err := s.ledsIn.Read(buf[:])
		if n > 0 {
			if v := hid.LEDs(buf[0]) & hid.LEDsValid; s.leds.set(v) {
				s.log.Debug("usb gadget: keyboard LEDs", "leds", v)
			}
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, os.ErrClosed), errors.Is(err, io.EOF):
			return
		}
		s.log.Warn("usb gadget: reading keyboard LEDs", "err", err)
		select {
		case <-s.done:
			return
		case <-time.After(ledRetry):
		}
	}
}
