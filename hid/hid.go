// Package hid defines kvmrelay's keyboard and pointer model: USB HID usage IDs, pointer events,
// the binary wire format spoken on the console's data channels (docs/protocol.md §2), the
// Sink that delivers input to a device, the safety wrappers around sinks (held-key
// tracking, release on silence), the Dispatcher that connects them to the data channels,
// and the Arbiter that lets several consoles share one machine with one of them in control.
//
// # Input attribution
//
// An Arbiter counts and digests the input of its controller for the audit chain (a Burst;
// wire.InputBurst). This definition is what a recording of a stretch of control is checked
// against; DigestEvents implements it.
//
// A burst's events are, in the order the Arbiter accepted them while one seat held control:
//   - every KEY, BUTTONS, WHEEL, POINTER_ABS and POINTER_REL message of that seat that was
//     handed to the machine's tracker: a console's repeated key-down counts although the
//     tracker does not press the key twice, and a sink error does not undo it; a message
//     refused before the tracker (another seat's, malformed, flooding, a stale POINTER_ABS,
//     after Close) does not count;
//   - every key press and release typed for a TEXT message, Shift and AltGr included, as the
//     KEY message that presses or releases the same key (KeyMsg{Usage, Down}).
//
// Releases the package makes on its own (RELEASE_ALL, silence, a control change, Close) are
// not events: they only lift what events pressed. Keys counts the KEY events, Pointer the
// others. The digest is SHA-256 over, for each event in order, its length as 2 bytes big
// endian followed by its wire bytes as Encode writes them (docs/protocol.md §2: KEY is
// 01 SS UU UU, BUTTONS 02 BB XX XX YY YY, WHEEL 03 DX DY, POINTER_ABS 10 QQ QQ BB XX XX YY YY,
// POINTER_REL 11 BB DX DX DY DY; Decode accepts one encoding per message, so these are the
// bytes the console sent). A burst without events has the digest of no bytes,
// e3b0c442…b855. A burst ends when control moves (SetController) and when it is taken in
// parts (TakeBurst); the next one starts empty.
//
// A recording with full keystroke capture gets a seat's KEY events as they are digested
// (Seat.TapKeys); DigestKeys recomputes a burst's digest from them when the burst had no
// pointer events.
package hid

// Usage is a USB HID usage ID on the keyboard/keypad page (0x07). Modifiers are 0xE0–0xE7.
type Usage uint16

// Modifier usages.
const (
	UsageLeftCtrl   Usage = 0xE0
	UsageLeftShift  Usage = 0xE1
	UsageLeftAlt    Usage = 0xE2
	UsageLeftGUI    Usage = 0xE3
	UsageRightCtrl  Usage = 0xE4
	UsageRightShift Usage = 0xE5
	UsageRightAlt   Usage = 0xE6
	UsageRightGUI   Usage = 0xE7
)

// Buttons is a mouse button mask: bit 0 left, 1 right, 2 middle, 3 back, 4 forward.
type Buttons uint8

// Button bits.
const (
	ButtonLeft    Buttons = 1 << 0
	ButtonRight   Buttons = 1 << 1
	ButtonMiddle  Buttons = 1 << 2
	ButtonBack    Buttons = 1 << 3
	ButtonForward Buttons = 1 << 4

	// ButtonsValid masks the bits the protocol defines.
	ButtonsValid = ButtonLeft | ButtonRight | ButtonMiddle | ButtonBack | ButtonForward
)

// AbsMax is the largest absolute pointer coordinate on either axis.
const AbsMax = 32767

// PointerEvent is one pointer state change delivered to a Sink.
type PointerEvent struct {
	// Absolute is true when X and Y hold a position in 0…AbsMax on the video's content
	// rectangle; false when DX and DY hold relative motion.
	Absolute bool
	X, Y     int
	DX, DY   int
	Buttons  Buttons
	// WheelX and WheelY are wheel steps; WheelY > 0 scrolls down.
	WheelX, WheelY int
}

// Sink receives input for one device: a USB gadget, an RFB connection, or a synthetic source.
// Implementations must be safe for calls from one goroutine at a time; callers serialize.
type Sink interface {
	// Key presses (down = true) or releases a key.
	Key(usage Usage, down bool) error
	// Pointer moves the pointer, changes buttons, or scrolls.
	Pointer(ev PointerEvent) error
}

// LayoutSink is implemented by sinks that send characters rather than key positions (an RFB
// connection sends X11 keysyms): they translate keys through the target's layout.
type LayoutSink interface {
	SetLayout(l *Layout)
}
