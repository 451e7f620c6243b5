package hid

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Reasons a message is refused. Decode wraps them with detail; test with errors.Is.
var (
	ErrTooShort     = errors.New("hid: message too short")
	ErrBadLength    = errors.New("hid: message longer than its type allows")
	ErrUnknownType  = errors.New("hid: unknown message type")
	ErrOutOfRange   = errors.New("hid: value out of range")
	ErrTooLarge     = errors.New("hid: message too large")
	ErrInvalidUTF8  = errors.New("hid: text is not valid UTF-8")
	ErrWrongChannel = errors.New("hid: message type not allowed on this channel")
	ErrClosed       = errors.New("hid: closed")
)

// Decode parses one data-channel message strictly: exact lengths, known types, values in
// range. It never keeps b; TEXT is copied.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%d-byte message: %w", len(b), ErrTooLarge)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("empty message: %w", ErrTooShort)
	}
	t := MsgType(b[0])
	m, err := decodeBody(t, b)
	if err == nil {
		err = m.validate()
	}
	if err != nil {
		return nil, fmt.Errorf("decode %v: %w", t, err)
	}
	return m, nil
}

func decodeBody(t MsgType, b []byte) (Message, error) {
	be := binary.BigEndian
	switch t {
	case TypeKey:
		if err := wantLen(b, 4); err != nil {
			return nil, err
		}
		if b[1] > 1 {
			return nil, fmt.Errorf("key state %d: %w", b[1], ErrOutOfRange)
		}
		return KeyMsg{Down: b[1] == 1, Usage: Usage(be.Uint16(b[2:]))}, nil
	case TypeButtons:
		if err := wantLen(b, 6); err != nil {
			return nil, err
		}
		return ButtonsMsg{Buttons: Buttons(b[1]), X: be.Uint16(b[2:]), Y: be.Uint16(b[4:])}, nil
	case TypeWheel:
		if err := wantLen(b, 3); err != nil {
			return nil, err
		}
		return WheelMsg{DX: int8(b[1]), DY: int8(b[2])}, nil
	case TypeKeepAlive:
		return KeepAliveMsg{}, wantLen(b, 1)
	case TypeReleaseAll:
		return ReleaseAllMsg{}, wantLen(b, 1)
	case TypeProbe:
		if err := wantLen(b, 5); err != nil {
			return nil, err
		}
		return ProbeMsg{ID: be.Uint32(b[1:])}, nil
	case TypeLayout:
		return LayoutMsg{Name: string(b[1:])}, nil
	case TypeText:
		// Length and UTF-8 are checked by validate; string() copies out of the caller's buffer.
		return TextMsg{Text: string(b[1:])}, nil
	case TypePointerAbs:
		if err := wantLen(b, 8); err != nil {
			return nil, err
		}
		return PointerAbsMsg{Seq: be.Uint16(b[1:]), Buttons: Buttons(b[3]), X: be.Uint16(b[4:]), Y: be.Uint16(b[6:])}, nil
	case TypePointerRel:
		if err := wantLen(b, 6); err != nil {
			return nil, err
		}
		return PointerRelMsg{Buttons: Buttons(b[1]), DX: int16(be.Uint16(b[2:])), DY: int16(be.Uint16(b[4:]))}, nil
	}
	return nil, ErrUnknownType
}

func wantLen(b []byte, n int) error {
	switch {
	case len(b) < n:
		return fmt.Errorf("%d bytes, want %d: %w", len(b), n, ErrTooShort)
	case len(b) > n:
		return fmt.Errorf("%d bytes, want %d: %w", len(b), n, ErrBadLength)
	}
	return nil
}
