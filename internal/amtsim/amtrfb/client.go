package amtrfb

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"image"
	"io"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// Client-to-server message types.
const (
	msgSetPixelFormat           = 0
	msgSetEncodings             = 2
	msgFramebufferUpdateRequest = 3
	msgKeyEvent                 = 4
	msgPointerEvent             = 5
	msgClientCutText            = 6
)

// clientMsg is one parsed client message.
type clientMsg struct {
	kind        byte
	pf          rfb.PixelFormat
	encodings   encodingSet
	incremental bool
	rect        image.Rectangle
	down        bool
	keysym      uint32
	mask        uint8
	x, y        int
	text        []byte // nil when it was longer than maxCutText
}

// encodingSet is what a SetEncodings offered, of what AMT speaks.
type encodingSet struct {
	raw, amt16, desktopSize, kvmData bool
}

// maxCutText bounds the client cut text kept; longer text is skipped unread.
const maxCutText = 64 << 10

// readMsg reads one client message. The sizes are fixed by the protocol or bounded here.
func readMsg(r *bufio.Reader) (clientMsg, error) {
	t, err := r.ReadByte()
	if err != nil {
		return clientMsg{}, err // io.EOF between messages: the client left
	}
	m := clientMsg{kind: t}
	var b [19]byte
	full := func(n int) error {
		if _, err := io.ReadFull(r, b[:n]); err != nil {
			return fmt.Errorf("amtrfb: read client message %d: %w", t, err)
		}
		return nil
	}
	switch t {
	case msgSetPixelFormat:
		if err := full(19); err != nil {
			return m, err
		}
		m.pf = parsePixelFormat(b[3:19])
	case msgSetEncodings:
		if err := full(3); err != nil {
			return m, err
		}
		n := int(binary.BigEndian.Uint16(b[1:3]))
		for range n {
			if err := full(4); err != nil {
				return m, err
			}
			switch int32(binary.BigEndian.Uint32(b[:4])) {
			case rfb.EncodingRaw:
				m.encodings.raw = true
			case rfb.EncodingAMTRLE:
				m.encodings.amt16 = true
			case rfb.EncodingDesktopSize:
				m.encodings.desktopSize = true
			case rfb.EncodingIntelKvmData:
				m.encodings.kvmData = true
			}
		}
	case msgFramebufferUpdateRequest:
		if err := full(9); err != nil {
			return m, err
		}
		m.incremental = b[0] != 0
		x, y := int(binary.BigEndian.Uint16(b[1:])), int(binary.BigEndian.Uint16(b[3:]))
		m.rect = image.Rect(x, y, x+int(binary.BigEndian.Uint16(b[5:])), y+int(binary.BigEndian.Uint16(b[7:])))
	case msgKeyEvent:
		if err := full(7); err != nil {
			return m, err
		}
		m.down, m.keysym = b[0] != 0, binary.BigEndian.Uint32(b[3:7])
	case msgPointerEvent:
		if err := full(5); err != nil {
			return m, err
		}
		m.mask = b[0]
		m.x, m.y = int(binary.BigEndian.Uint16(b[1:])), int(binary.BigEndian.Uint16(b[3:]))
	case msgClientCutText:
		if err := full(7); err != nil {
			return m, err
		}
		n := int64(binary.BigEndian.Uint32(b[3:7]))
		if n > maxCutText {
			if _, err := io.CopyN(io.Discard, r, n); err != nil {
				return m, fmt.Errorf("amtrfb: read client cut text: %w", err)
			}
			return m, nil
		}
		m.text = make([]byte, n)
		if _, err := io.ReadFull(r, m.text); err != nil {
			return m, fmt.Errorf("amtrfb: read client cut text: %w", err)
		}
	default:
		return m, fmt.Errorf("%w: unknown message type %d", ErrProtocol, t)
	}
	return m, nil
}
