package hid

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// MsgType is byte 0 of every HID data-channel message (docs/protocol.md §2).
type MsgType uint8

// Message types.
const (
	TypeKey        MsgType = 0x01
	TypeButtons    MsgType = 0x02
	TypeWheel      MsgType = 0x03
	TypeKeepAlive  MsgType = 0x04
	TypeReleaseAll MsgType = 0x05
	TypeText       MsgType = 0x06
	TypeProbe      MsgType = 0x07
	TypeLayout     MsgType = 0x08
	TypePointerAbs MsgType = 0x10
	TypePointerRel MsgType = 0x11
)

// Wire limits.
const (
	// MaxMessageSize is the largest valid HID message; anything longer is dropped unread.
	MaxMessageSize = 16 << 10
	// MaxTextSize is the largest TEXT payload: a full-size message minus its type byte.
	MaxTextSize = MaxMessageSize - 1
	// NoPosition in both coordinates of BUTTONS means "relative mode, no position".
	NoPosition uint16 = 0xFFFF
)

func (t MsgType) String() string {
	switch t {
	case TypeKey:
		return "KEY"
	case TypeButtons:
		return "BUTTONS"
	case TypeWheel:
		return "WHEEL"
	case TypeKeepAlive:
		return "KEEPALIVE"
	case TypeReleaseAll:
		return "RELEASE_ALL"
	case TypeText:
		return "TEXT"
	case TypeProbe:
		return "PROBE"
	case TypeLayout:
		return "LAYOUT"
	case TypePointerAbs:
		return "POINTER_ABS"
	case TypePointerRel:
		return "POINTER_REL"
	}
	return fmt.Sprintf("type 0x%02x", uint8(t))
}

// Channel is the data channel a message type belongs on: only POINTER_ABS rides the lossy
// pointer channel, everything that carries state needs the reliable one.
func (t MsgType) Channel() Channel {
	if t == TypePointerAbs {
		return ChannelPointer
	}
	return ChannelHID
}

// Channel identifies one of the two HID data channels.
type Channel uint8

// The two channels; Label gives the data-channel label the agent creates them with.
const (
	ChannelHID     Channel = iota // reliable, ordered
	ChannelPointer                // unordered, maxRetransmits 0
)

// Data-channel labels (docs/protocol.md §2).
const (
	LabelHID     = "hid"
	LabelPointer = "pointer"
)

// Label returns the data-channel label.
func (c Channel) Label() string {
	if c == ChannelPointer {
		return LabelPointer
	}
	return LabelHID
}

func (c Channel) String() string { return c.Label() }

// Message is one decoded HID message: KeyMsg, ButtonsMsg, WheelMsg, KeepAliveMsg,
// ReleaseAllMsg, TextMsg, ProbeMsg, LayoutMsg, PointerAbsMsg or PointerRelMsg. The set is closed so that Decode's
// callers can switch on it exhaustively.
type Message interface {
	Type() MsgType
	validate() error
	appendWire(b []byte) []byte
}

// KeyMsg presses or releases one key.
type KeyMsg struct {
	Usage Usage
	Down  bool
}

// ButtonsMsg sets the button mask, at an absolute position unless X and Y are NoPosition.
type ButtonsMsg struct {
	Buttons Buttons
	X, Y    uint16
}

// HasPosition reports whether the message carries an absolute position.
func (m ButtonsMsg) HasPosition() bool { return m.X != NoPosition || m.Y != NoPosition }

// WheelMsg scrolls; DY > 0 scrolls down, DX > 0 right.
type WheelMsg struct{ DX, DY int8 }

// ProbeMsg follows an input event the console times: the agent answers with a FrameNote
// naming the first video frame that changed after it ("input → first change").
type ProbeMsg struct{ ID uint32 }

// LayoutMsg names the keyboard layout the target machine uses ("de-DE"): TEXT is typed
// through it, and sinks that send characters rather than key positions (RFB keysyms) translate
// keys through it.
type LayoutMsg struct{ Name string }

// MaxLayoutName is the longest layout name LAYOUT carries.
const MaxLayoutName = 32

// KeepAliveMsg tells the agent the console is still there.
type KeepAliveMsg struct{}

// ReleaseAllMsg releases every key and button.
type ReleaseAllMsg struct{}

// TextMsg asks the agent to type Text through its keyboard layout.
type TextMsg struct{ Text string }

// PointerAbsMsg moves the pointer to an absolute position; Seq orders moves on the lossy,
// unordered pointer channel.
type PointerAbsMsg struct {
	Seq     uint16
	Buttons Buttons
	X, Y    uint16
}

// PointerRelMsg moves the pointer relatively, for targets that only understand relative motion.
type PointerRelMsg struct {
	Buttons Buttons
	DX, DY  int16
}

func (KeyMsg) Type() MsgType        { return TypeKey }
func (ButtonsMsg) Type() MsgType    { return TypeButtons }
func (WheelMsg) Type() MsgType      { return TypeWheel }
func (KeepAliveMsg) Type() MsgType  { return TypeKeepAlive }
func (ReleaseAllMsg) Type() MsgType { return TypeReleaseAll }
func (TextMsg) Type() MsgType       { return TypeText }
func (ProbeMsg) Type() MsgType      { return TypeProbe }
func (LayoutMsg) Type() MsgType     { return TypeLayout }
func (PointerAbsMsg) Type() MsgType { return TypePointerAbs }
func (PointerRelMsg) Type() MsgType { return TypePointerRel }

// Encode returns the wire form of m. It refuses exactly what Decode refuses, so a message
// that encodes also decodes back to itself.
func Encode(m Message) ([]byte, error) { return AppendEncode(nil, m) }

// AppendEncode appends the wire form of m to b.
func AppendEncode(b []byte, m Message) ([]byte, error) {
	if m == nil {
		return b, fmt.Errorf("encode nil message: %w", ErrUnknownType)
	}
	if err := m.validate(); err != nil {
		return b, fmt.Errorf("encode %v: %w", m.Type(), err)
	}
	return m.appendWire(b), nil
}

func (m KeyMsg) validate() error {
	if !m.Usage.Valid() {
		return fmt.Errorf("usage 0x%04x: %w", uint16(m.Usage), ErrOutOfRange)
	}
	return nil
}

func (m ButtonsMsg) validate() error {
	if err := validButtons(m.Buttons); err != nil {
		return err
	}
	if m.X == NoPosition && m.Y == NoPosition {
		return nil
	}
	return validPosition(m.X, m.Y)
}

func (WheelMsg) validate() error { return nil }
func (ProbeMsg) validate() error { return nil }

func (m LayoutMsg) validate() error {
	if len(m.Name) == 0 || len(m.Name) > MaxLayoutName {
		return fmt.Errorf("layout name of %d bytes: %w", len(m.Name), ErrOutOfRange)
	}
	for _, c := range []byte(m.Name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("layout name byte 0x%02x: %w", c, ErrOutOfRange)
		}
	}
	return nil
}
func (KeepAliveMsg) validate() error  { return nil }
func (ReleaseAllMsg) validate() error { return nil }

func (m TextMsg) validate() error {
	switch {
	case len(m.Text) == 0:
		return fmt.Errorf("empty text: %w", ErrTooShort)
	case len(m.Text) > MaxTextSize:
		return fmt.Errorf("%d bytes of text: %w", len(m.Text), ErrTooLarge)
	case !utf8.ValidString(m.Text):
		return ErrInvalidUTF8
	}
	return nil
}

func (m PointerAbsMsg) validate() error {
	if err := validButtons(m.Buttons); err != nil {
		return err
	}
	return validPosition(m.X, m.Y)
}

func (m PointerRelMsg) validate() error { return validButtons(m.Buttons) }

func validButtons(b Buttons) error {
	if b&^ButtonsValid != 0 {
		return fmt.Errorf("button mask 0x%02x: %w", uint8(b), ErrOutOfRange)
	}
	return nil
}

func validPosition(x, y uint16) error {
	if x > AbsMax || y > AbsMax {
		return fmt.Errorf("position %d,%d: %w", x, y, ErrOutOfRange)
	}
	return nil
}

func (m KeyMsg) appendWire(b []byte) []byte {
	var state byte
	if m.Down {
		state = 1
	}
	return binary.BigEndian.AppendUint16(append(b, byte(TypeKey), state), uint16(m.Usage))
}

func (m ButtonsMsg) appendWire(b []byte) []byte {
	b = append(b, byte(TypeButtons), byte(m.Buttons))
	b = binary.BigEndian.AppendUint16(b, m.X)
	return binary.BigEndian.AppendUint16(b, m.Y)
}

func (m WheelMsg) appendWire(b []byte) []byte {
	return append(b, byte(TypeWheel), byte(m.DX), byte(m.DY))
}

func (KeepAliveMsg) appendWire(b []byte) []byte { return append(b, byte(TypeKeepAlive)) }
func (m LayoutMsg) appendWire(b []byte) []byte  { return append(append(b, byte(TypeLayout)), m.Name...) }
func (m ProbeMsg) appendWire(b []byte) []byte {
	return binary.BigEndian.AppendUint32(append(b, byte(TypeProbe)), m.ID)
}
func (ReleaseAllMsg) appendWire(b []byte) []byte { return append(b, byte(TypeReleaseAll)) }

func (m TextMsg) appendWire(b []byte) []byte {
	return append(append(b, byte(TypeText)), m.Text...)
}

func (m PointerAbsMsg) appendWire(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(append(b, byte(TypePointerAbs)), m.Seq)
	b = append(b, byte(m.Buttons))
	b = binary.BigEndian.AppendUint16(b, m.X)
	return binary.BigEndian.AppendUint16(b, m.Y)
}

func (m PointerRelMsg) appendWire(b []byte) []byte {
	b = append(b, byte(TypePointerRel), byte(m.Buttons))
	b = binary.BigEndian.AppendUint16(b, uint16(m.DX))
	return binary.BigEndian.AppendUint16(b, uint16(m.DY))
}
