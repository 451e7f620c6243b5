package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RTP payload structures of H.264 packetization mode 1 (RFC 6184 §5.2).
const (
	naluSTAPA = 24
	naluFUA   = 28
)

var errPayload = errors.New("recording: malformed H.264 RTP payload")

// depacketize returns the NAL units carried by one frame's packet payloads, in order: single
// NAL units as they are, STAP-A aggregates split, FU-A fragments joined. The frame's packets
// are all there (the assembler checked): a fragment that does not continue is an error,
// not a loss. The NAL units alias payloads or buf.
func depacketize(payloads [][]byte, buf []byte) (nalus [][]byte, _ []byte, err error) {
	fuStart := -1 // where in buf the fragmented NAL unit being joined starts
	for _, pl := range payloads {
		if len(pl) == 0 {
			continue
		}
		switch typ := pl[0] & 0x1f; typ {
		case naluSTAPA:
			for rest := pl[1:]; len(rest) > 0; {
				if len(rest) < 2 {
					return nil, buf, fmt.Errorf("%w: STAP-A cut short", errPayload)
				}
				n := int(binary.BigEndian.Uint16(rest))
				if n == 0 || len(rest) < 2+n {
					return nil, buf, fmt.Errorf("%w: STAP-A unit of %d bytes", errPayload, n)
				}
				nalus = append(nalus, rest[2:2+n])
				rest = rest[2+n:]
			}
		case naluFUA:
			if len(pl) < 3 {
				return nil, buf, fmt.Errorf("%w: FU-A of %d bytes", errPayload, len(pl))
			}
			start, end := pl[1]&0x80 != 0, pl[1]&0x40 != 0
			switch {
			case start && fuStart >= 0:
				return nil, buf, fmt.Errorf("%w: FU-A starts inside another", errPayload)
			case start:
				fuStart = len(buf)
				buf = append(buf, pl[0]&0xe0|pl[1]&0x1f) // the NAL header: F, NRI, type
			case fuStart < 0:
				return nil, buf, fmt.Errorf("%w: FU-A continues nothing", errPayload)
			}
			buf = append(buf, pl[2:]...)
			if end {
				nalus = append(nalus, buf[fuStart:len(buf):len(buf)])
				fuStart = -1
			}
		default:
			if typ == 0 || typ > naluSTAPA-1 {
				return nil, buf, fmt.Errorf("%w: NAL unit type %d not in packetization mode 1", errPayload, typ)
			}
			if fuStart >= 0 {
				return nil, buf, fmt.Errorf("%w: NAL unit inside an FU-A", errPayload)
			}
			nalus = append(nalus, pl)
		}
	}
	if fuStart >= 0 {
		return nil, buf, fmt.Errorf("%w: FU-A not ended", errPayload)
	}
	return nalus, buf, nil
}
