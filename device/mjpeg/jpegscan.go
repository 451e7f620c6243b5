package mjpeg

import (
	"bytes"
	"errors"
	"fmt"
)

// JPEG markers the scanners act on.
const (
	markerSOI  = 0xD8
	markerEOI  = 0xD9
	markerSOS  = 0xDA
	markerTEM  = 0x01
	markerRST0 = 0xD0
	markerRST7 = 0xD7
	markerSOF0 = 0xC0 // baseline
	markerSOF1 = 0xC1 // extended sequential, Huffman
	markerDHT  = 0xC4
	markerJPG  = 0xC8
	markerDAC  = 0xCC
	markerSOF2 = 0xC2 // progressive
)

// standalone reports whether a marker has no length field after it.
func standalone(m byte) bool {
	return m == markerTEM || m == markerSOI || m == markerEOI || (m >= markerRST0 && m <= markerRST7)
}

// errNotJPEG is returned for a part whose body does not start like a JPEG.
var errNotJPEG = errors.New("part is not a JPEG")

// endScanner finds where a JPEG ends in a stream, chunk by chunk, by walking its segments:
// lengths skip headers (an EXIF thumbnail's own end marker cannot fool it) and entropy-coded
// data ends at the first marker that is neither a stuffed 0xFF00 nor a restart. It lets a part
// without Content-Length be handed over as soon as its last byte arrives, instead of when the
// next boundary does (a camera that writes the boundary just before the next frame).
type endScanner struct {
	state  scanState
	marker byte
	lenHi  byte
	skip   int
}

type scanState uint8

const (
	stSOI0 scanState = iota
	stSOI1
	stMarkerFF
	stMarker
	stLen0
	stLen1
	stSkip
	stEntropy
	stEntropyFF
)

// feed consumes p and returns how many of its bytes belong to the JPEG; done is true when
// the end-of-image marker was among them.
func (s *endScanner) feed(p []byte) (n int, done bool, err error) {
	i := 0
	for i < len(p) {
		switch s.state {
		case stSOI0, stSOI1:
			want := byte(0xFF)
			if s.state == stSOI1 {
				want = markerSOI
			}
			if p[i] != want {
				return i, false, errNotJPEG
			}
			i++
			if s.state == stSOI0 {
				s.state = stSOI1
			} else {
				s.state = stMarkerFF
			}
		case stMarkerFF:
			// Bytes between segments are garbage libjpeg skips with a warning; so do we.
			j := bytes.IndexByte(p[i:], 0xFF)
			if j < 0 {
				return len(p), false, nil
			}
			i += j + 1
			s.state = stMarker
		case stMarker, stEntropyFF:
			m := p[i]
			i++
			switch {
			case m == 0xFF: // fill byte
			case s.state == stEntropyFF && (m == 0x00 || (m >= markerRST0 && m <= markerRST7)):
				s.state = stEntropy
			case m == markerEOI:
				*s = endScanner{}
				return i, true, nil
			case standalone(m) || m == 0x00:
				s.state = stMarkerFF
			default:
				s.marker, s.state = m, stLen0
			}
		case stLen0:
			s.lenHi, s.state = p[i], stLen1
			i++
		case stLen1:
			l := int(s.lenHi)<<8 | int(p[i])
			i++
			if l < 2 {
				return i, false, fmt.Errorf("JPEG segment %#x has length %d", s.marker, l)
			}
			s.skip = l - 2
			s.state = stSkip
			if s.skip == 0 {
				s.segmentDone()
			}
		case stSkip:
			k := min(s.skip, len(p)-i)
			i += k
			s.skip -= k
			if s.skip == 0 {
				s.segmentDone()
			}
		case stEntropy:
			j := bytes.IndexByte(p[i:], 0xFF)
			if j < 0 {
				return len(p), false, nil
			}
			i += j + 1
			s.state = stEntropyFF
		}
	}
	return i, false, nil
}

func (s *endScanner) segmentDone() {
	if s.marker == markerSOS {
		s.state = stEntropy
	} else {
		s.state = stMarkerFF
	}
}

// jpegInfo is what a JPEG's frame header says, read before any decoder allocates for it.
type jpegInfo struct {
	width, height int
	components    int
	// sof is the start-of-frame marker: SOF0 or SOF1 for the sequential Huffman JPEGs MJPEG
	// streams carry.
	sof byte
}

// readInfo walks data's segments up to the frame header.
func readInfo(data []byte) (jpegInfo, error) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != markerSOI {
		return jpegInfo{}, errNotJPEG
	}
	i := 2
	for {
		// Skip to the next marker (tolerating garbage and fill bytes, like libjpeg).
		for i < len(data) && data[i] != 0xFF {
			i++
		}
		for i < len(data) && data[i] == 0xFF {
			i++
		}
		if i >= len(data) {
			return jpegInfo{}, errors.New("JPEG has no frame header")
		}
		m := data[i]
		i++
		if standalone(m) || m == 0x00 {
			if m == markerEOI {
				return jpegInfo{}, errors.New("JPEG ends before its frame header")
			}
			continue
		}
		if i+2 > len(data) {
			return jpegInfo{}, errors.New("JPEG truncated in a segment header")
		}
		l := int(data[i])<<8 | int(data[i+1])
		if l < 2 || i+l > len(data) {
			return jpegInfo{}, fmt.Errorf("JPEG segment %#x has bad length %d", m, l)
		}
		seg := data[i+2 : i+l]
		i += l
		if m < 0xC0 || m > 0xCF || m == markerDHT || m == markerJPG || m == markerDAC {
			if m == markerSOS {
				return jpegInfo{}, errors.New("JPEG scan before its frame header")
			}
			continue
		}
		if len(seg) < 6 {
			return jpegInfo{}, errors.New("JPEG frame header too short")
		}
		info := jpegInfo{
			height:     int(seg[1])<<8 | int(seg[2]),
			width:      int(seg[3])<<8 | int(seg[4]),
			components: int(seg[5]),
			sof:        m,
		}
		if len(seg) < 6+3*info.components {
			return jpegInfo{}, errors.New("JPEG frame header shorter than its components")
		}
		return info, nil
	}
}
