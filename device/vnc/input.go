package vnc

import (
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/rfb"
)

// KeyMap turns a USB usage into the X11 keysym a KeyEvent carries, given whether Shift is
// held; 0 means the key has none. hid.UsageToKeysym is the US layout.
type KeyMap func(u hid.Usage, shift bool) uint32

// RFB pointer mask bits (X11 buttons 1…8).
const (
	rfbLeft      = 1 << 0
	rfbMiddle    = 1 << 1
	rfbRight     = 1 << 2
	rfbWheelUp   = 1 << 3
	rfbWheelDown = 1 << 4
	rfbWheelLeft = 1 << 5
	rfbWheelRt   = 1 << 6
	rfbBack      = 1 << 7
)

// maxWheelSteps bounds the clicks one wheel event turns into.
const maxWheelSteps = 32

// input is a connection's hid.Sink: keys as keysyms, the absolute pointer in framebuffer
// pixels. Motion is coalesced: a move less than a frame after the last one waits for the
// rest of that frame, and only the latest position is sent.
type input struct {
	client   *rfb.Client
	video    *Video
	keymap   KeyMap
	interval time.Duration

	mu       sync.Mutex
	layout   *hid.Layout // the target's, once the console named one; nil: keymap
	altGr    bool        // Right Alt held on a layout where it is AltGr
	shift    [2]bool
	pressed  map[hid.Usage]uint32
	pos      image.Point
	mask     uint8
	lastMove time.Time
	pending  bool        // a move waits for timer
	timer    *time.Timer // sends the pending move
	closed   bool
}

func newInput(client *rfb.Client, video *Video, keymap KeyMap, interval time.Duration) *input {
	if keymap == nil {
		keymap = hid.UsageToKeysym
	}
	return &input{client: client, video: video, keymap: keymap, interval: interval, pressed: map[hid.Usage]uint32{}}
}

// Key presses or releases a key. The release sends the keysym the press sent, whatever
// Shift did in between, so the server never sees a key stuck under another name.
func (in *input) Key(u hid.Usage, down bool) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.endedLocked(); err != nil {
		return err
	}
	switch u {
	case hid.UsageLeftShift:
		in.shift[0] = down
	case hid.UsageRightShift:
		in.shift[1] = down
	case hid.UsageRightAlt:
		in.altGr = down
	}
	var sym uint32
	if down {
		sym = in.keysymLocked(u)
		if sym == 0 {
			return nil
		}
		in.pressed[u] = sym
	} else {
		var ok bool
		if sym, ok = in.pressed[u]; !ok {
			sym = in.keysymLocked(u)
		}
		delete(in.pressed, u)
		if sym == 0 {
			return nil
		}
	}
	if err := in.flushLocked(); err != nil {
		return err
	}
	in.video.inputSent()
	if err := in.client.KeyEvent(sym, down); err != nil {
		return fmt.Errorf("vnc: key: %w", err)
	}
	return nil
}

// keysymLocked is the keysym key u types now: through the target's layout (Shift, AltGr,
// dead keys as dead keysyms) once the console named one, else through the keymap.
func (in *input) keysymLocked(u hid.Usage) uint32 {
	shift := in.shift[0] || in.shift[1]
	if in.layout != nil {
		return in.layout.Keysym(u, shift, in.altGr)
	}
	return in.keymap(u, shift)
}

// SetLayout makes keys type what they type on the target's layout (hid.LayoutSink): the VNC
// server maps keysyms back to keys with its own keymap, so a German target must get the
// keysym "y" for the key a German keyboard labels Y (USB KeyZ).
func (in *input) SetLayout(l *hid.Layout) {
	in.mu.Lock()
	in.layout = l
	in.mu.Unlock()
}

// Pointer moves the pointer, presses buttons or scrolls.
func (in *input) Pointer(ev hid.PointerEvent) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.endedLocked(); err != nil {
		return err
	}
	w, h := in.client.Size()
	if w <= 0 || h <= 0 {
		return nil
	}
	p := in.pos
	if ev.Absolute {
		p = image.Pt(scale(ev.X, w), scale(ev.Y, h))
	} else {
		p = image.Pt(min(max(p.X+ev.DX, 0), w-1), min(max(p.Y+ev.DY, 0), h-1))
	}
	mask := buttonMask(ev.Buttons)
	moved := p != in.pos
	in.pos = p
	in.video.pointerMoved(p)
	if mask == in.mask && ev.WheelX == 0 && ev.WheelY == 0 {
		if !moved {
			return nil
		}
		return in.moveLocked()
	}
	in.mask = mask
	in.pending = false
	in.video.inputSent()
	if err := in.send(mask); err != nil {
		return err
	}
	for _, wheel := range [...]struct {
		steps    int
		neg, pos uint8
	}{{ev.WheelY, rfbWheelUp, rfbWheelDown}, {ev.WheelX, rfbWheelLeft, rfbWheelRt}} {
		bit := wheel.pos
		if wheel.steps < 0 {
			bit = wheel.neg
		}
		for range min(abs(wheel.steps), maxWheelSteps) {
			if err := in.send(mask | bit); err != nil {
				return err
			}
			if err := in.send(mask); err != nil {
				return err
			}
		}
	}
	return nil
}

// moveLocked sends a move now, or when a move went out less than a frame ago, at the end of
// that frame (with whatever position is latest then).
func (in *input) moveLocked() error {
	if wait := in.interval - time.Since(in.lastMove); wait > 0 {
		if !in.pending {
			in.pending = true
			if in.timer == nil {
				in.timer = time.AfterFunc(wait, in.flushTimer)
			} else {
				in.timer.Reset(wait)
			}
		}
		return nil
	}
	in.video.inputSent()
	return in.send(in.mask)
}

func (in *input) flushTimer() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.closed {
		_ = in.flushLocked() // a failed write ends the connection; the reader reports it
	}
}

// flushLocked sends a pending move before anything that must follow it.
func (in *input) flushLocked() error {
	if !in.pending {
		return nil
	}
	in.pending = false
	in.video.inputSent()
	return in.send(in.mask)
}

func (in *input) send(mask uint8) error {
	in.lastMove = time.Now()
	if err := in.client.PointerEvent(mask, in.pos.X, in.pos.Y); err != nil {
		return fmt.Errorf("vnc: pointer: %w", err)
	}
	return nil
}

// endedLocked reports why input can no longer reach the server.
func (in *input) endedLocked() error {
	if in.closed {
		return errEnded
	}
	select {
	case <-in.video.done:
		return in.video.endErr()
	default:
		return nil
	}
}

func (in *input) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	if in.timer != nil {
		in.timer.Stop()
	}
}

// scale maps 0…hid.AbsMax onto 0…size-1.
func scale(v, size int) int {
	v = min(max(v, 0), hid.AbsMax)
	return (v*(size-1) + hid.AbsMax/2) / hid.AbsMax
}

func buttonMask(b hid.Buttons) uint8 {
	var m uint8
	if b&hid.ButtonLeft != 0 {
		m |= rfbLeft
	}
	if b&hid.ButtonMiddle != 0 {
		m |= rfbMiddle
	}
	if b&hid.ButtonRight != 0 {
		m |= rfbRight
	}
	if b&hid.ButtonBack != 0 {
		m |= rfbBack
	}
	return m
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
