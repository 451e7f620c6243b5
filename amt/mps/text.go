package mps

import "fmt"

// textDecoder turns MPS's TEXT frames back into bytes. MPS sends each device byte as one code
// point (U+0000–U+00FF), UTF-8 encoded: 0x00–0x7F as themselves, 0x80–0xFF as two bytes
// C2/C3 + continuation. A rune may straddle two reads of one message, so the decoder keeps a
// pending lead byte between calls.
type textDecoder struct {
	lead byte // 0xC2 or 0xC3 waiting for its continuation byte; 0 for none
}

// decode decodes src into dst (which may be src itself: the output never outruns the input)
// and returns how many bytes it wrote. dst must have room for len(src) bytes.
func (d *textDecoder) decode(dst, src []byte) (int, error) {
	n := 0
	for _, b := range src {
		if d.lead != 0 {
			if b&0xC0 != 0x80 {
				return n, fmt.Errorf("mps: byte %#02x after %#02x: %w", b, d.lead, ErrBadText)
			}
			dst[n] = (d.lead&0x03)<<6 | b&0x3F
			n++
			d.lead = 0
			continue
		}
		switch {
		case b < 0x80:
			dst[n] = b
			n++
		case b == 0xC2 || b == 0xC3:
			d.lead = b
		default:
			// C0/C1 would be overlong, C4 and up a code point above U+00FF, the rest not a
			// lead byte at all.
			return n, fmt.Errorf("mps: byte %#02x: %w", b, ErrBadText)
		}
	}
	return n, nil
}

// end reports a message that ended inside a two-byte rune.
func (d *textDecoder) end() error {
	if d.lead != 0 {
		d.lead = 0
		return fmt.Errorf("mps: text frame ends inside a character: %w", ErrBadText)
	}
	return nil
}

// DecodeText decodes one whole TEXT message from the MPS relay into the device bytes it
// carries (one byte per code point). It returns an error wrapping ErrBadText for invalid UTF-8
// or a code point above U+00FF.
func DecodeText(msg []byte) ([]byte, error) {
	var d textDecoder
	out := make([]byte, len(msg))
	n, err := d.decode(out, msg)
	if err != nil {
		return nil, err
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return out[:n], nil
}
