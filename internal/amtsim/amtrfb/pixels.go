package amtrfb

import (
	"encoding/binary"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// accepted reports whether AMT serves pixels in pf: RGB565 at 16 bpp, RGB332 or gray at 8.
// Real AMT is not known to take anything else; a client asking for it is disconnected.
func accepted(pf rfb.PixelFormat) bool {
	for _, ok := range []rfb.PixelFormat{rfb.PixelFormatRGB565(), rfb.PixelFormatRGB332(), rfb.PixelFormatGray8(), rfb.PixelFormatGray4()} {
		if pf == ok {
			return true
		}
	}
	return false
}

func parsePixelFormat(b []byte) rfb.PixelFormat {
	return rfb.PixelFormat{
		BitsPerPixel: b[0], Depth: b[1], BigEndian: b[2] != 0, TrueColour: b[3] != 0,
		RedMax: binary.BigEndian.Uint16(b[4:]), GreenMax: binary.BigEndian.Uint16(b[6:]),
		BlueMax: binary.BigEndian.Uint16(b[8:]), RedShift: b[10], GreenShift: b[11], BlueShift: b[12],
	}
}

// encoder turns RGBA into wire pixels of an accepted format (8 or 16 bpp, little-endian).
type encoder struct {
	pf  rfb.PixelFormat
	bpp int
}

func newEncoder(pf rfb.PixelFormat) encoder { return encoder{pf: pf, bpp: pf.BytesPerPixel()} }

// value is the pixel value of an RGB colour: each channel cut to its bits (c·(max+1)/256),
// or for gray formats the luminance (ITU-R BT.601 weights) cut the same way.
func (e encoder) value(r, g, b uint8) uint16 {
	pf := e.pf
	if pf.Grayscale() {
		lum := (77*uint32(r) + 150*uint32(g) + 29*uint32(b)) >> 8
		return uint16(lum*(uint32(pf.RedMax)+1)>>8) << pf.RedShift
	}
	ch := func(c uint8, m uint16, shift uint8) uint16 {
		return uint16(uint32(c)*(uint32(m)+1)>>8) << shift
	}
	return ch(r, pf.RedMax, pf.RedShift) | ch(g, pf.GreenMax, pf.GreenShift) | ch(b, pf.BlueMax, pf.BlueShift)
}

// put appends one pixel value in wire order.
func (e encoder) put(dst []byte, v uint16) []byte {
	if e.bpp == 1 {
		return append(dst, byte(v))
	}
	return binary.LittleEndian.AppendUint16(dst, v)
}
