package hid

import "fmt"

// inputPath is where a Dispatcher's input goes: a Tracker of its own (one console drives the
// device alone), or a Seat at the machine's Arbiter (several consoles, one in control).
type inputPath interface {
	// input applies one input message: KEY, BUTTONS, WHEEL, POINTER_ABS or POINTER_REL.
	input(m Message) error
	// admitText reports whether a TEXT message may be queued for typing.
	admitText() error
	// keyIf presses or releases a key for the typist, only if live() still holds once the
	// path is locked (see Tracker.keyIf).
	keyIf(live func() bool, u Usage, down bool) error
	releaseAll() error
	close() error
	held() ([]Usage, Buttons)
}

// applyInput makes the tracker calls one input message stands for.
func applyInput(t *Tracker, m Message) error {
	switch m := m.(type) {
	case KeyMsg:
		return t.Key(m.Usage, m.Down)
	case ButtonsMsg:
		if m.HasPosition() {
			return t.SetButtonsAt(m.Buttons, int(m.X), int(m.Y))
		}
		return t.SetButtons(m.Buttons)
	case WheelMsg:
		return t.Wheel(int(m.DX), int(m.DY))
	case PointerAbsMsg:
		// Buttons are state and travel on the reliable channel (BUTTONS, POINTER_REL). The
		// mask of a lossy, reorderable move is ignored: a late move would otherwise press a
		// button again after its release.
		return t.MoveAbs(int(m.X), int(m.Y))
	case PointerRelMsg:
		return t.MoveRel(m.Buttons, int(m.DX), int(m.DY))
	case nil:
		return fmt.Errorf("hid: nil input: %w", ErrUnknownType)
	}
	return fmt.Errorf("hid: %v is not input: %w", m.Type(), ErrUnknownType)
}

// isInput reports whether m is an input event (it reaches the device), and whether it is a
// key event rather than a pointer one.
func isInput(m Message) (input, key bool) {
	switch m.(type) {
	case KeyMsg:
		return true, true
	case ButtonsMsg, WheelMsg, PointerAbsMsg, PointerRelMsg:
		return true, false
	}
	return false, false
}

// ownTracker is the input path of a Dispatcher that drives its device alone.
type ownTracker struct{ t *Tracker }

func (o ownTracker) input(m Message) error { return applyInput(o.t, m) }
func (ownTracker) admitText() error        { return nil }
func (o ownTracker) keyIf(live func() bool, u Usage, down bool) error {
	return o.t.keyIf(live, u, down)
}
func (o ownTracker) releaseAll() error        { return o.t.ReleaseAll() }
func (o ownTracker) close() error             { return o.t.Close() }
func (o ownTracker) held() ([]Usage, Buttons) { return o.t.Held() }
