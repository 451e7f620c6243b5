package testpattern

import (
	"strconv"
	"time"
)

// counterText is "frame NNNNNNNN  HH:MM:SS.mmm", built without allocating but for the
// string itself.
func (s *scene) counterText(now time.Time) string {
	b := append(s.buf[:0], "frame "...)
	b = appendPadded(b, s.frame%100_000_000, 8)
	b = append(b, "  "...)
	b = now.AppendFormat(b, "15:04:05.000")
	s.buf = b
	return string(b)
}

func keysText(in *inputState) string {
	b := make([]byte, 0, keysChars)
	b = append(b, "keys "...)
	b = appendPadded(b, in.keyDowns%100_000, 5)
	b = append(b, "  mods "...)
	for i, c := range []byte("CSAG") {
		// Left or right modifier of the kind: bits i and i+4.
		if in.mods&(1<<i|1<<(i+4)) != 0 {
			b = append(b, c)
		} else {
			b = append(b, '-')
		}
	}
	b = append(b, "  buttons "...)
	for i, c := range []byte("LRMBF") {
		if in.buttons&(1<<i) != 0 {
			b = append(b, c)
		} else {
			b = append(b, '-')
		}
	}
	return string(b)
}

func pointerText(in *inputState) string {
	b := make([]byte, 0, pointerChars)
	b = append(b, "pointer "...)
	if in.pointerSet {
		b = strconv.AppendInt(b, int64(in.x), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(in.y), 10)
	} else {
		b = append(b, "-,-"...)
	}
	b = append(b, "  wheel "...)
	b = strconv.AppendInt(b, int64(in.wheelX), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(in.wheelY), 10)
	return string(b)
}

func appendPadded(b []byte, v uint64, width int) []byte {
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], v, 10)
	for range width - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}
