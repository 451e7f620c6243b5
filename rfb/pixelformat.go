package rfb

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// PixelFormat is how the server encodes one pixel (RFC 6143 §7.4). kvmrelay handles true
// colour only: colour maps died with 8-bit displays, and AMT's 8-bit modes are true colour
// (RGB332, and gray formats whose only channel is red).
type PixelFormat struct {
	BitsPerPixel uint8 // 8, 16 or 32
	Depth        uint8
	BigEndian    bool
	TrueColour   bool
	RedMax       uint16
	GreenMax     uint16
	BlueMax      uint16
	RedShift     uint8
	GreenShift   uint8
	BlueShift    uint8
}

// ErrPixelFormat is returned for a pixel format this client cannot draw.
var ErrPixelFormat = errors.New("rfb: unsupported pixel format")

// PixelFormat32 is the client's default: 32 bits, little-endian, red in the lowest byte. Its
// pixels on the wire are R, G, B, X bytes, the framebuffer's own layout, so raw rectangles are
// copied without conversion.
func PixelFormat32() PixelFormat {
	return PixelFormat{BitsPerPixel: 32, Depth: 24, TrueColour: true,
		RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 0, GreenShift: 8, BlueShift: 16}
}

// PixelFormatRGB565 is 16-bit 5-6-5 little-endian, Intel AMT's default.
func PixelFormatRGB565() PixelFormat {
	return PixelFormat{BitsPerPixel: 16, Depth: 16, TrueColour: true,
		RedMax: 31, GreenMax: 63, BlueMax: 31, RedShift: 11, GreenShift: 5, BlueShift: 0}
}

// PixelFormatRGB332 is 8-bit 3-3-2, one of AMT's modes for large screens.
func PixelFormatRGB332() PixelFormat {
	return PixelFormat{BitsPerPixel: 8, Depth: 8, TrueColour: true,
		RedMax: 7, GreenMax: 7, BlueMax: 3, RedShift: 5, GreenShift: 2, BlueShift: 0}
}

// PixelFormatGray8 is AMT's 8-bit grayscale: one byte of luminance, declared (as Intel's
// and MeshCentral's clients send it) as a red channel of max 255 with green and blue max 0.
func PixelFormatGray8() PixelFormat {
	return PixelFormat{BitsPerPixel: 8, Depth: 8, TrueColour: true, RedMax: 255}
}

// PixelFormatGray4 is AMT's 4-bit grayscale: still one byte per pixel, luminance 0–15 in
// its low bits (depth 4, red max 15, green and blue max 0).
func PixelFormatGray4() PixelFormat {
	return PixelFormat{BitsPerPixel: 8, Depth: 4, TrueColour: true, RedMax: 15}
}

// Grayscale reports whether the format is one of AMT's gray formats: the red channel carries
// the luminance and green and blue are absent (max 0).
func (pf PixelFormat) Grayscale() bool {
	return pf.RedMax != 0 && pf.GreenMax == 0 && pf.BlueMax == 0
}

func (pf PixelFormat) String() string {
	order := "LE"
	if pf.BigEndian {
		order = "BE"
	}
	return fmt.Sprintf("%d bpp depth %d %s true-colour=%v max %d/%d/%d shift %d/%d/%d",
		pf.BitsPerPixel, pf.Depth, order, pf.TrueColour, pf.RedMax, pf.GreenMax, pf.BlueMax,
		pf.RedShift, pf.GreenShift, pf.BlueShift)
}

// BytesPerPixel is the size of one pixel on the wire.
func (pf PixelFormat) BytesPerPixel() int { return int(pf.BitsPerPixel) / 8 }

// Validate reports whether the client can decode pixels of this format.
func (pf PixelFormat) Validate() error {
	switch pf.BitsPerPixel {
	case 8, 16, 32:
	default:
		return fmt.Errorf("%w: %d bits per pixel (want 8, 16 or 32)", ErrPixelFormat, pf.BitsPerPixel)
	}
	if !pf.TrueColour {
		return fmt.Errorf("%w: colour map (want true colour)", ErrPixelFormat)
	}
	for _, c := range [...]struct {
		max   uint16
		shift uint8
	}{{pf.RedMax, pf.RedShift}, {pf.GreenMax, pf.GreenShift}, {pf.BlueMax, pf.BlueShift}} {
		if c.max == 0 && pf.Grayscale() {
			continue // the absent green and blue of a gray format
		}
		if c.max == 0 || c.max&(c.max+1) != 0 || int(c.shift)+bitLen(c.max) > int(pf.BitsPerPixel) {
			return fmt.Errorf("%w: %s", ErrPixelFormat, pf)
		}
	}
	return nil
}

func bitLen(v uint16) int {
	n := 0
	for ; v != 0; v >>= 1 {
		n++
	}
	return n
}

// identity reports whether wire pixels are already R, G, B, X bytes.
func (pf PixelFormat) identity() bool {
	return pf == PixelFormat32() || (pf.BitsPerPixel == 32 && pf.TrueColour && !pf.BigEndian &&
		pf.RedMax == 255 && pf.GreenMax == 255 && pf.BlueMax == 255 &&
		pf.RedShift == 0 && pf.GreenShift == 8 && pf.BlueShift == 16)
}

// Marshal returns the 16-byte PIXEL_FORMAT structure.
func (pf PixelFormat) Marshal() []byte {
	b := make([]byte, 16)
	b[0], b[1] = pf.BitsPerPixel, pf.Depth
	b[2], b[3] = boolByte(pf.BigEndian), boolByte(pf.TrueColour)
	binary.BigEndian.PutUint16(b[4:], pf.RedMax)
	binary.BigEndian.PutUint16(b[6:], pf.GreenMax)
	binary.BigEndian.PutUint16(b[8:], pf.BlueMax)
	b[10], b[11], b[12] = pf.RedShift, pf.GreenShift, pf.BlueShift
	return b
}

func parsePixelFormat(b []byte) PixelFormat {
	return PixelFormat{
		BitsPerPixel: b[0], Depth: b[1], BigEndian: b[2] != 0, TrueColour: b[3] != 0,
		RedMax: binary.BigEndian.Uint16(b[4:]), GreenMax: binary.BigEndian.Uint16(b[6:]),
		BlueMax: binary.BigEndian.Uint16(b[8:]), RedShift: b[10], GreenShift: b[11], BlueShift: b[12],
	}
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// PixelConverter turns wire pixels into RGBA bytes. It is built once per pixel format: 8 and 16
// bpp go through a lookup table of every value.
type PixelConverter struct {
	pf    PixelFormat
	bpp   int
	ident bool
	// cpixel is the size of a ZRLE/TRLE compact pixel: 3 for 32 bpp formats whose colours
	// fit in the low or high three bytes.
	cpixel int
	// cpixelHigh: the compact pixel holds the three most significant bytes.
	cpixelHigh bool
	lut        []uint32 // value → RGBA (little-endian packed) for 8 and 16 bpp
	scale      [3][]uint8
	gray       bool
}

func NewPixelConverter(pf PixelFormat) (*PixelConverter, error) {
	if err := pf.Validate(); err != nil {
		return nil, err
	}
	c := &PixelConverter{pf: pf, bpp: pf.BytesPerPixel(), ident: pf.identity(), cpixel: pf.BytesPerPixel(), gray: pf.Grayscale()}
	for i, m := range [...]uint16{pf.RedMax, pf.GreenMax, pf.BlueMax} {
		s := make([]uint8, int(m)+1)
		for v := 1; v < len(s); v++ {
			s[v] = uint8((v*255 + int(m)/2) / int(m))
		}
		c.scale[i] = s
	}
	if pf.BitsPerPixel == 32 && pf.Depth <= 24 {
		mask := uint32(pf.RedMax)<<pf.RedShift | uint32(pf.GreenMax)<<pf.GreenShift | uint32(pf.BlueMax)<<pf.BlueShift
		switch {
		case mask&0xFF000000 == 0:
			c.cpixel = 3
		case mask&0x000000FF == 0:
			c.cpixel, c.cpixelHigh = 3, true
		}
	}
	if pf.BitsPerPixel <= 16 {
		c.lut = make([]uint32, 1<<pf.BitsPerPixel)
		for v := range c.lut {
			c.lut[v] = c.rgba(uint32(v))
		}
	}
	return c, nil
}

// rgba converts a pixel value to packed R | G<<8 | B<<16 | 0xFF<<24.
func (c *PixelConverter) rgba(v uint32) uint32 {
	pf := c.pf
	r := c.scale[0][(v>>pf.RedShift)&uint32(pf.RedMax)]
	if c.gray {
		// Full scale: 4-bit white (15) is 255, not MeshCentral's 15<<4 = 240.
		return uint32(r) | uint32(r)<<8 | uint32(r)<<16 | 0xFF<<24
	}
	g := c.scale[1][(v>>pf.GreenShift)&uint32(pf.GreenMax)]
	b := c.scale[2][(v>>pf.BlueShift)&uint32(pf.BlueMax)]
	return uint32(r) | uint32(g)<<8 | uint32(b)<<16 | 0xFF<<24
}

// value reads one pixel value of size n bytes (n = bpp, or cpixel) from src.
func (c *PixelConverter) value(src []byte, n int) uint32 {
	switch n {
	case 1:
		return uint32(src[0])
	case 2:
		if c.pf.BigEndian {
			return uint32(binary.BigEndian.Uint16(src))
		}
		return uint32(binary.LittleEndian.Uint16(src))
	case 3:
		// A compact pixel: the three bytes that carry colour, in wire byte order.
		var v uint32
		if c.pf.BigEndian {
			v = uint32(src[0])<<16 | uint32(src[1])<<8 | uint32(src[2])
		} else {
			v = uint32(src[0]) | uint32(src[1])<<8 | uint32(src[2])<<16
		}
		if c.cpixelHigh {
			v <<= 8
		}
		return v
	default:
		if c.pf.BigEndian {
			return binary.BigEndian.Uint32(src)
		}
		return binary.LittleEndian.Uint32(src)
	}
}

// Pixel converts one wire pixel of n bytes (bpp or cpixel) to packed RGBA.
func (c *PixelConverter) Pixel(src []byte, n int) uint32 {
	if c.lut != nil {
		return c.lut[c.value(src, n)]
	}
	if c.ident {
		return uint32(src[0]) | uint32(src[1])<<8 | uint32(src[2])<<16 | 0xFF<<24
	}
	return c.rgba(c.value(src, n))
}

// Row converts len(dst)/4 wire pixels of n bytes each from src into RGBA bytes in dst.
func (c *PixelConverter) Row(dst, src []byte, n int) {
	if c.ident && n == 4 {
		copy(dst, src)
		for i := 3; i < len(dst); i += 4 {
			dst[i] = 0xFF
		}
		return
	}
	for i, j := 0, 0; i+4 <= len(dst); i, j = i+4, j+n {
		binary.LittleEndian.PutUint32(dst[i:], c.Pixel(src[j:j+n], n))
	}
}

// BytesPerPixel is the size of a full pixel on the wire.
func (c *PixelConverter) BytesPerPixel() int { return c.bpp }

// CPixelSize is the size of a ZRLE/TRLE compact pixel in this format.
func (c *PixelConverter) CPixelSize() int { return c.cpixel }

// Format is the pixel format the converter reads.
func (c *PixelConverter) Format() PixelFormat { return c.pf }
