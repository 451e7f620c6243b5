package usbgadget

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// ErrHostNotReading is returned when the machine does not take the reports: the USB cable is
// out, the machine is off or asleep, or the gadget is not bound to a controller.
var ErrHostNotReading = errors.New("the USB host is not reading input: is the cable connected and the machine on?")

// Write deadlines. A host polls a HID interrupt endpoint every 1 ms (high speed) to 10 ms
// (full speed), so a healthy host takes a report well within writeTimeout. After one miss the
// host is taken for gone and later writes wait only stalledTimeout, so that a sleeping machine
// costs every input event 20 ms at most, not a quarter second.
const (
	defaultWriteTimeout   = 250 * time.Millisecond
	defaultStalledTimeout = 20 * time.Millisecond
)

// endpoint is one /dev/hidgN, written one report per write(2).
type endpoint struct {
	name    string // "keyboard", for messages
	f       *os.File
	rc      syscall.RawConn
	timeout time.Duration
	stalled time.Duration
	// missed is set when the last write missed its deadline; the caller serializes writes.
	missed bool
}

// openEndpoint opens a gadget device without blocking and checks that writes can have a
// deadline (the file is a pollable character device or FIFO, not a regular file).
func openEndpoint(name, path string, flag int, timeout, stalled time.Duration) (*endpoint, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("usbgadget: open %s %s (is the gadget set up? deploy/usb-gadget.sh): %w", name, path, err)
	}
	e, err := newEndpoint(name, f, timeout, stalled)
	if err != nil {
		f.Close()
		return nil, err
	}
	return e, nil
}

func newEndpoint(name string, f *os.File, timeout, stalled time.Duration) (*endpoint, error) {
	if err := f.SetWriteDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("usbgadget: %s %s cannot be written with a deadline (not a /dev/hidgN device?): %w", name, f.Name(), err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("usbgadget: %s %s: %w", name, f.Name(), err)
	}
	return &endpoint{name: name, f: f, rc: rc, timeout: timeout, stalled: stalled}, nil
}

// write sends one report with one write(2): the kernel queues it whole, or a prefix of it when
// the function's report is shorter. It waits for the host to take the previous report until
// the deadline.
func (e *endpoint) write(report []byte) error {
	d := e.timeout
	if e.missed {
		d = e.stalled
	}
	if err := e.f.SetWriteDeadline(time.Now().Add(d)); err != nil {
		return fmt.Errorf("usbgadget: %s %s: %w", e.name, e.f.Name(), err)
	}
	var werr error
	err := e.rc.Write(func(fd uintptr) bool {
		for {
			_, werr = syscall.Write(int(fd), report)
			if werr != syscall.EINTR {
				return werr != syscall.EAGAIN
			}
		}
	})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		e.missed = true
		return fmt.Errorf("usbgadget: %s %s: report not taken within %v: %w", e.name, e.f.Name(), d, ErrHostNotReading)
	case err != nil:
		return fmt.Errorf("usbgadget: %s %s: %w", e.name, e.f.Name(), err)
	case werr == syscall.ESHUTDOWN:
		// The function is not enabled: no host has configured the gadget.
		e.missed = true
		return fmt.Errorf("usbgadget: %s %s: %w", e.name, e.f.Name(), ErrHostNotReading)
	case werr != nil:
		return fmt.Errorf("usbgadget: write %s %s: %w", e.name, e.f.Name(), werr)
	}
	e.missed = false
	return nil
}

func (e *endpoint) close() error { return e.f.Close() }
