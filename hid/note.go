package hid

import (
	"encoding/binary"
	"fmt"
)

// Messages the agent sends to the console on the hid channel (docs/protocol.md §2). Their
// types have the high bit set, so they can never be mistaken for console input.
const (
	// TypeFrameNote answers a PROBE: 80 II II II II TT TT TT TT — the probe's id and the RTP
	// timestamp of the first video frame that changed after it.
	TypeFrameNote MsgType = 0x80
	// TypeLEDs tells the console the machine's keyboard LEDs: 81 LL (hid.LEDs bits), sent
	// when the hid channel opens and on every change, by agents whose input reads them back.
	TypeLEDs MsgType = 0x81
)

// AppendLEDs appends a LEDS message to b.
func AppendLEDs(b []byte, l LEDs) []byte { return append(b, byte(TypeLEDs), byte(l&LEDsValid)) }

// FrameNote is the agent's answer to a probe.
type FrameNote struct {
	Probe        uint32
	RTPTimestamp uint32
}

// AppendFrameNote appends n's wire form to b.
func AppendFrameNote(b []byte, n FrameNote) []byte {
	b = append(b, byte(TypeFrameNote))
	b = binary.BigEndian.AppendUint32(b, n.Probe)
	return binary.BigEndian.AppendUint32(b, n.RTPTimestamp)
}

// DecodeFrameNote parses a FRAME_NOTE (the console's side; tests).
func DecodeFrameNote(b []byte) (FrameNote, error) {
	if len(b) != 9 || MsgType(b[0]) != TypeFrameNote {
		return FrameNote{}, fmt.Errorf("hid: not a 9-byte FRAME_NOTE: %w", ErrBadLength)
	}
	return FrameNote{Probe: binary.BigEndian.Uint32(b[1:]), RTPTimestamp: binary.BigEndian.Uint32(b[5:])}, nil
}
