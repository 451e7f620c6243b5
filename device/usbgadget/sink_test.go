package usbgadget

import (
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
)

// waitLimit bounds every wait for the sink; a healthy run never comes near it.
const waitLimit = 10 * time.Second

// rig is a sink whose devices are pipes: the test reads the reports the host would and writes
// the LED reports the host would.
type rig struct {
	sink          *Sink
	kbd, abs, rel *os.File // read ends of the report pipes
	ledsOut       *os.File // write end of the LED pipe
}

type rigConfig struct {
	abs, rel         bool
	timeout, stalled time.Duration
}

func newRig(t *testing.T, cfg rigConfig) *rig {
	t.Helper()
	if cfg.timeout == 0 {
		cfg.timeout, cfg.stalled = waitLimit, waitLimit
	}
	pipe := func(name string) (*os.File, *endpoint) {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		t.Cleanup(func() { r.Close() })
		e, err := newEndpoint(name, w, cfg.timeout, cfg.stalled)
		require.NoError(t, err)
		return r, e
	}
	var g rig
	kbdR, kbd := pipe("keyboard")
	g.kbd = kbdR
	var abs, rel *endpoint
	if cfg.abs {
		g.abs, abs = pipe("absolute mouse")
	}
	if cfg.rel {
		g.rel, rel = pipe("relative mouse")
	}
	ledsIn, ledsOut, err := os.Pipe()
	require.NoError(t, err)
	g.ledsOut = ledsOut
	t.Cleanup(func() { ledsOut.Close() })
	g.sink = start(kbd, ledsIn, abs, rel)
	t.Cleanup(func() { g.sink.Close() })
	return &g
}

// read returns the next n bytes the sink wrote to r.
func read(t *testing.T, r *os.File, n int) []byte {
	t.Helper()
	require.NoError(t, r.SetReadDeadline(time.Now().Add(waitLimit)))
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	require.NoError(t, err)
	return b
}

// nothingMore checks that the sink wrote nothing else to r.
func nothingMore(t *testing.T, r *os.File) {
	t.Helper()
	require.NoError(t, r.SetReadDeadline(time.Now()))
	var b [1]byte
	n, err := r.Read(b[:])
	assert.Zero(t, n, "unexpected report byte %#x", b[0])
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

func kbdReport(mods byte, keys ...byte) []byte {
	r := make([]byte, 8)
	r[0] = mods
	copy(r[2:], keys)
	return r
}

func TestKeyboardReports(t *testing.T) {
	g := newRig(t, rigConfig{abs: true})
	const a, b, c = 0x04, 0x05, 0x06
	steps := []struct {
		u    hid.Usage
		down bool
		want []byte
	}{
		{hid.UsageLeftShift, true, kbdReport(0x02)},
		{a, true, kbdReport(0x02, a)},
		{b, true, kbdReport(0x02, a, b)},
		{hid.UsageRightAlt, true, kbdReport(0x42, a, b)},
		{a, false, kbdReport(0x42, b)},
		{c, true, kbdReport(0x42, b, c)},
		{hid.UsageLeftShift, false, kbdReport(0x40, b, c)},
		// A repeated press or a release of a key not held resends the state.
		{c, true, kbdReport(0x40, b, c)},
		{a, false, kbdReport(0x40, b, c)},
		{hid.UsageRightAlt, false, kbdReport(0x00, b, c)},
		{b, false, kbdReport(0x00, c)},
		{c, false, kbdReport(0x00)},
		{hid.UsageLeftCtrl, true, kbdReport(0x01)},
		{hid.UsageRightGUI, true, kbdReport(0x81)},
	}
	for i, st := range steps {
		require.NoError(t, g.sink.Key(st.u, st.down), "step %d", i)
		assert.Equal(t, st.want, read(t, g.kbd, 8), "step %d: usage %#x down %t", i, st.u, st.down)
	}
	nothingMore(t, g.kbd)
	assert.Equal(t, uint64(len(steps)), g.sink.Stats().Reports)
}

func TestKeyboardRollover(t *testing.T) {
	g := newRig(t, rigConfig{abs: true})
	keys := []byte{0x04, 0x05, 0x06, 0x07, 0x08, 0x09}
	require.NoError(t, g.sink.Key(hid.UsageLeftCtrl, true))
	read(t, g.kbd, 8)
	for i, k := range keys {
		require.NoError(t, g.sink.Key(hid.Usage(k), true))
		assert.Equal(t, kbdReport(0x01, keys[:i+1]...), read(t, g.kbd, 8))
	}
	// A seventh key: ErrorRollOver in every slot, modifiers still reported.
	require.NoError(t, g.sink.Key(0x0A, true))
	assert.Equal(t, []byte{0x01, 0, 1, 1, 1, 1, 1, 1}, read(t, g.kbd, 8))
	require.NoError(t, g.sink.Key(0x0B, true))
	assert.Equal(t, []byte{0x01, 0, 1, 1, 1, 1, 1, 1}, read(t, g.kbd, 8))
	require.NoError(t, g.sink.Key(0x05, false))
	assert.Equal(t, []byte{0x01, 0, 1, 1, 1, 1, 1, 1}, read(t, g.kbd, 8))
	// Back to six: the keys still held, in the order they were pressed.
	require.NoError(t, g.sink.Key(0x04, false))
	assert.Equal(t, kbdReport(0x01, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B), read(t, g.kbd, 8))
	assert.Equal(t, uint64(3), g.sink.Stats().Rollover)
}

func TestKeyRejectsInvalidUsage(t *testing.T) {
	g := newRig(t, rigConfig{abs: true})
	for _, u := range []hid.Usage{0, 0x01, 0xA5, 0xE8, 0x100} {
		assert.ErrorIs(t, g.sink.Key(u, true), hid.ErrOutOfRange, "%#x", u)
	}
	nothingMore(t, g.kbd)
}

func TestLEDReadBack(t *testing.T) {
	g := newRig(t, rigConfig{abs: true})
	leds, changed := g.sink.LEDs()
	assert.Equal(t, hid.LEDs(0), leds)
	for _, tt := range []struct {
		report byte
		want   hid.LEDs
	}{
		{0x02, hid.LEDCapsLock},
		{0x03, hid.LEDNumLock | hid.LEDCapsLock},
		{0x1D, hid.LEDNumLock | hid.LEDScrollLock | hid.LEDCompose | hid.LEDKana},
		{0xE1, hid.LEDNumLock}, // undefined bits ignored
		{0x00, 0},
	} {
		_, err := g.ledsOut.Write([]byte{tt.report})
		require.NoError(t, err)
		select {
		case <-changed:
		case <-time.After(waitLimit):
			t.Fatalf("no LED change after report %#x", tt.report)
		}
		leds, changed = g.sink.LEDs()
		assert.Equal(t, tt.want, leds, "report %#x", tt.report)
	}
	assert.Equal(t, "num+caps", (hid.LEDNumLock | hid.LEDCapsLock).String())
}

func absReport(b byte, x, y uint16, wheel, pan int8) []byte {
	return []byte{b, byte(x), byte(x >> 8), byte(y), byte(y >> 8), byte(wheel), byte(pan)}
}

func TestAbsoluteReports(t *testing.T) {
	g := newRig(t, rigConfig{abs: true, rel: true})
	tests := []struct {
		ev   hid.PointerEvent
		want [][]byte
	}{
		{hid.PointerEvent{Absolute: true, X: 0x1234, Y: 0x0567}, [][]byte{absReport(0, 0x1234, 0x0567, 0, 0)}},
		{hid.PointerEvent{Absolute: true, X: hid.AbsMax, Y: 0, Buttons: hid.ButtonLeft | hid.ButtonForward},
			[][]byte{absReport(0x11, 0x7FFF, 0, 0, 0)}},
		// Out of range positions are clamped; undefined button bits dropped.
		{hid.PointerEvent{Absolute: true, X: -5, Y: 40000, Buttons: 0xE4}, [][]byte{absReport(0x04, 0, 0x7FFF, 0, 0)}},
		// Scrolling down is a negative HID wheel; right is a positive pan.
		{hid.PointerEvent{Absolute: true, X: 10, Y: 20, WheelY: 3, WheelX: -2}, [][]byte{absReport(0, 10, 20, -3, -2)}},
		{hid.PointerEvent{Absolute: true, X: 10, Y: 20, WheelY: -200},
			[][]byte{absReport(0, 10, 20, 127, 0), absReport(0, 10, 20, 73, 0)}},
	}
	for _, tt := range tests {
		require.NoError(t, g.sink.Pointer(tt.ev))
		for i, want := range tt.want {
			assert.Equal(t, want, read(t, g.abs, 7), "%+v report %d", tt.ev, i)
		}
	}
	nothingMore(t, g.abs)
	nothingMore(t, g.rel)
}

func TestRelativeReports(t *testing.T) {
	g := newRig(t, rigConfig{abs: true, rel: true})
	tests := []struct {
		ev   hid.PointerEvent
		want [][]byte
	}{
		{hid.PointerEvent{DX: 5, DY: -7, Buttons: hid.ButtonRight}, [][]byte{{0x02, 5, 0xF9, 0, 0}}},
		{hid.PointerEvent{}, [][]byte{{0, 0, 0, 0, 0}}},
		{hid.PointerEvent{DX: 300, DY: -130}, [][]byte{{0, 127, 0x81, 0, 0}, {0, 127, 0xFD, 0, 0}, {0, 46, 0, 0, 0}}},
		{hid.PointerEvent{DX: -128, Buttons: hid.ButtonMiddle}, [][]byte{{0x04, 0x81, 0, 0, 0}, {0x04, 0xFF, 0, 0, 0}}},
		{hid.PointerEvent{WheelY: 1, WheelX: 1}, [][]byte{{0, 0, 0, 0xFF, 1}}},
	}
	for _, tt := range tests {
		require.NoError(t, g.sink.Pointer(tt.ev))
		for i, want := range tt.want {
			assert.Equal(t, want, read(t, g.rel, 5), "%+v report %d", tt.ev, i)
		}
	}
	nothingMore(t, g.rel)
	nothingMore(t, g.abs)
}

func TestHugeDeltaIsBounded(t *testing.T) {
	g := newRig(t, rigConfig{rel: true})
	done := make(chan int)
	go func() {
		n := 0
		var b [5]byte
		for {
			if _, err := io.ReadFull(g.rel, b[:]); err != nil {
				done <- n
				return
			}
			n++
		}
	}()
	require.NoError(t, g.sink.Pointer(hid.PointerEvent{DX: 1 << 40}))
	require.NoError(t, g.sink.Close())
	g.rel.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	assert.Equal(t, (maxDelta+126)/127, <-done)
}

func TestOnlyAbsoluteMouse(t *testing.T) {
	g := newRig(t, rigConfig{abs: true})
	require.NoError(t, g.sink.Pointer(hid.PointerEvent{Absolute: true, X: 100, Y: 200}))
	read(t, g.abs, 7)
	// Relative motion has nowhere to go; its button goes to the absolute mouse where it is.
	require.NoError(t, g.sink.Pointer(hid.PointerEvent{DX: 10, DY: 10, Buttons: hid.ButtonLeft}))
	assert.Equal(t, absReport(0x01, 100, 200, 0, 0), read(t, g.abs, 7))
	require.NoError(t, g.sink.Pointer(hid.PointerEvent{WheelY: 1}))
	assert.Equal(t, absReport(0, 100, 200, -1, 0), read(t, g.abs, 7))
	assert.Equal(t, uint64(1), g.sink.Stats().MotionDropped)
}

func TestOnlyRelativeMouse(t *testing.T) {
	g := newRig(t, rigConfig{rel: true})
	require.NoError(t, g.sink.Pointer(hid.PointerEvent{Absolute: true, X: 100, Y: 200, Buttons: hid.ButtonRight}))
	assert.Equal(t, []byte{0x02, 0, 0, 0, 0}, read(t, g.rel, 5))
	assert.Equal(t, uint64(1), g.sink.Stats().MotionDropped)
}

// A host that stops reading fills the pipe: the write fails within its deadline instead of
// blocking, later writes fail fast, and writing works again once the host reads.
func TestHostNotReading(t *testing.T) {
	g := newRig(t, rigConfig{abs: true, timeout: 50 * time.Millisecond, stalled: time.Millisecond})
	var err error
	// A pipe buffer holds 64 KiB: 8192 reports at most.
	for i := 0; i < 10000 && err == nil; i++ {
		err = g.sink.Key(0x04, true)
	}
	require.ErrorIs(t, err, ErrHostNotReading)
	assert.Equal(t, "usbgadget: keyboard "+g.sink.kbd.f.Name()+": report not taken within 50ms: "+ErrHostNotReading.Error(), err.Error())
	err = g.sink.Key(0x05, true)
	require.ErrorIs(t, err, ErrHostNotReading)
	assert.Contains(t, err.Error(), "within 1ms", "a stalled host costs the short deadline")
	st := g.sink.Stats()
	assert.Equal(t, uint64(2), st.HostNotReading)
	assert.Equal(t, uint64(2), st.WriteErrors)

	// The host reads again.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		var b [4096]byte
		g.kbd.SetReadDeadline(time.Now().Add(waitLimit))
		for n := uint64(0); n < st.Reports*8; {
			m, err := g.kbd.Read(b[:])
			if err != nil {
				return
			}
			n += uint64(m)
		}
	}()
	<-drained
	require.NoError(t, g.sink.Key(0x05, false))
	assert.Equal(t, kbdReport(0, 0x04), read(t, g.kbd, 8))
	nothingMore(t, g.kbd)
	require.NoError(t, g.sink.Close())
}

// Close unblocks a write waiting for the host and stops the LED reader; goleak checks that
// nothing is left running.
func TestCloseReleasesKeysAndStops(t *testing.T) {
	g := newRig(t, rigConfig{abs: true})
	require.NoError(t, g.sink.Key(0x04, true))
	require.NoError(t, g.sink.Key(hid.UsageLeftShift, true))
	read(t, g.kbd, 16)
	require.NoError(t, g.sink.Close())
	assert.Equal(t, kbdReport(0), read(t, g.kbd, 8), "Close releases what is held")
	assert.ErrorIs(t, g.sink.Key(0x04, true), ErrClosed)
	assert.ErrorIs(t, g.sink.Pointer(hid.PointerEvent{}), ErrClosed)
	require.NoError(t, g.sink.Close(), "Close is idempotent")
	select {
	case <-g.sink.Done():
	default:
		t.Fatal("Done not closed")
	}
}

// Through the factory, with FIFOs standing in for /dev/hidgN.
func TestNewSinkOnFIFOs(t *testing.T) {
	dir := t.TempDir()
	paths := make([]string, 3)
	for i := range paths {
		paths[i] = filepath.Join(dir, "hidg"+string(rune('0'+i)))
		require.NoError(t, syscall.Mkfifo(paths[i], 0o600))
	}
	// The host's ends: opened first, so that the sink's write-only opens find a reader.
	abs, err := os.OpenFile(paths[1], os.O_RDONLY|syscall.O_NONBLOCK, 0)
	require.NoError(t, err)
	defer abs.Close()
	rel, err := os.OpenFile(paths[2], os.O_RDONLY|syscall.O_NONBLOCK, 0)
	require.NoError(t, err)
	defer rel.Close()

	s, err := NewSink(&url.URL{Scheme: Scheme, Path: paths[0] + "," + paths[1] + "," + paths[2]})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Pointer(hid.PointerEvent{Absolute: true, X: 1, Y: 2, Buttons: hid.ButtonLeft}))
	assert.Equal(t, absReport(1, 1, 2, 0, 0), read(t, abs, 7))
	require.NoError(t, s.Pointer(hid.PointerEvent{DX: -1, DY: 1}))
	assert.Equal(t, []byte{0, 0xFF, 1, 0, 0}, read(t, rel, 5))

	// The host sets Caps Lock: the keyboard device is read as well as written.
	kbd, err := os.OpenFile(paths[0], os.O_WRONLY, 0)
	require.NoError(t, err)
	defer kbd.Close()
	leds, changed := s.(*Sink).LEDs()
	require.Zero(t, leds)
	_, err = kbd.Write([]byte{byte(hid.LEDCapsLock)})
	require.NoError(t, err)
	select {
	case <-changed:
	case <-time.After(waitLimit):
		t.Fatal("no LED change")
	}
	leds, _ = s.(*Sink).LEDs()
	assert.Equal(t, hid.LEDCapsLock, leds)
	require.NoError(t, s.Close())
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(regular, nil, 0o600))
	_, err := Open(Paths{Keyboard: regular, Absolute: regular + "2"})
	require.ErrorContains(t, err, "cannot be written with a deadline")

	_, err = Open(Paths{Keyboard: filepath.Join(dir, "missing"), Absolute: "/x"})
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "deploy/usb-gadget.sh")

	// A FIFO nobody reads cannot be a mouse: opening it fails at once instead of hanging.
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	kbd := filepath.Join(dir, "kbd")
	require.NoError(t, syscall.Mkfifo(kbd, 0o600))
	_, err = Open(Paths{Keyboard: kbd, Absolute: fifo})
	require.True(t, errors.Is(err, syscall.ENXIO), "%v", err)
}

// BenchmarkKey measures a key report written to a pipe a reader empties: the sink's own cost
// per report, without a USB host's polling interval.
func BenchmarkKey(b *testing.B) {
	r, w, err := os.Pipe()
	require.NoError(b, err)
	defer r.Close()
	kbd, err := newEndpoint("keyboard", w, waitLimit, waitLimit)
	require.NoError(b, err)
	ledsIn, ledsOut, err := os.Pipe()
	require.NoError(b, err)
	defer ledsOut.Close()
	s := start(kbd, ledsIn, nil, nil)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, r)
	}()
	for i := 0; b.Loop(); i++ {
		if err := s.Key(0x04, i&1 == 0); err != nil {
			b.Fatal(err)
		}
	}
	require.NoError(b, s.Close())
	<-drained
}
