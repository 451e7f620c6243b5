package testpattern

import (
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/media"
)

// inputState is everything input has changed, copied to the drawing side once per frame.
type inputState struct {
	seq      uint64 // bumped by every event
	keyDowns uint64
	mods     uint8 // bit i: modifier usage 0xE0+i held
	caps     bool
	line     string // being typed, last typedChars characters
	prev     string // the line before the last Enter

	pointerSet     bool
	x, y           int // pixels
	buttons        hid.Buttons
	wheelX, wheelY int
}

const (
	modCtrl  = 1<<0 | 1<<4
	modShift = 1<<1 | 1<<5
	modAlt   = 1<<2 | 1<<6
	modGUI   = 1<<3 | 1<<7
)

// Key counts key-down events for the strip (every one, modifiers included) and types the
// characters an en-US keyboard would. It implements hid.Sink.
func (s *Source) Key(usage hid.Usage, down bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return media.ErrClosed
	}
	in := &s.in
	in.seq++
	if down {
		in.keyDowns++
	}
	switch {
	case usage >= hid.UsageLeftCtrl && usage <= hid.UsageRightGUI:
		bit := uint8(1) << (usage - hid.UsageLeftCtrl)
		if down {
			in.mods |= bit
		} else {
			in.mods &^= bit
		}
	case !down:
	case usage == usageEnter || usage == usageKPEnter:
		in.prev, in.line = in.line, ""
	case usage == usageBackspace:
		if n := len(in.line); n > 0 {
			in.line = in.line[:n-1]
		}
	case usage == usageCapsLock:
		in.caps = !in.caps
	case in.mods&(modCtrl|modAlt|modGUI) != 0:
		// A shortcut, not text.
	default:
		if c := char(usage, in.mods&modShift != 0, in.caps); c != 0 {
			line := in.line + string(c)
			in.line = line[max(0, len(line)-typedChars):]
		}
	}
	s.damagedLocked()
	return nil
}

// Pointer moves the cursor mark (absolute positions map onto the whole frame, relative
// motion moves it by pixels), records buttons and adds up wheel steps. It implements
// hid.Sink.
func (s *Source) Pointer(ev hid.PointerEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return media.ErrClosed
	}
	in := &s.in
	in.seq++
	w, h := s.cfg.Width, s.cfg.Height
	if ev.Absolute {
		in.x = min(max(ev.X, 0), hid.AbsMax) * (w - 1) / hid.AbsMax
		in.y = min(max(ev.Y, 0), hid.AbsMax) * (h - 1) / hid.AbsMax
	} else {
		in.x = min(max(in.x+ev.DX, 0), w-1)
		in.y = min(max(in.y+ev.DY, 0), h-1)
	}
	in.pointerSet = true
	in.buttons = ev.Buttons & hid.ButtonsValid
	in.wheelX += ev.WheelX
	in.wheelY += ev.WheelY
	s.damagedLocked()
	return nil
}

// KeyDownCount returns the number of key-down events received; the strip shows its low 16
// bits.
func (s *Source) KeyDownCount() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in.keyDowns
}

// Refresh asks for a frame as soon as the frame-rate cap allows (a new viewer is waiting for a
// keyframe). It implements media.Refresher.
func (s *Source) Refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.damagedLocked()
}

// damagedLocked marks the picture stale and wakes Next without blocking.
func (s *Source) damagedLocked() {
	s.dirty = true
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
