package rfb_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kvmrelay/kvmrelay/rfb"
)

func TestHextile(t *testing.T) {
	runCases(t, []fbCase{
		{name: "background, foreground, subrect", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 16, 16, rfb.EncodingHextile)
			s.u8(2|4|8).pixel32(red).pixel32(blue).u8(1).u8(0x12, 0x12) // 2×3 at (1, 2)
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			fb := c.Framebuffer()
			assert.Equal(t, uint32(red), at(fb, 0, 0))
			assert.Equal(t, uint32(blue), at(fb, 1, 2))
			assert.Equal(t, uint32(blue), at(fb, 2, 4))
			assert.Equal(t, uint32(red), at(fb, 3, 4))
			assert.Equal(t, uint32(red), at(fb, 15, 15))
		}},
		{name: "coloured subrects", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 4, 4, rfb.EncodingHextile)
			s.u8(2|8|16).pixel32(red).u8(2).pixel32(blue).u8(0x00, 0x00).pixel32(green).u8(0x33, 0x00)
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			fb := c.Framebuffer()
			assert.Equal(t, uint32(blue), at(fb, 0, 0))
			assert.Equal(t, uint32(green), at(fb, 3, 3))
			assert.Equal(t, uint32(red), at(fb, 1, 1))
			assert.Equal(t, uint32(white), at(fb, 4, 4))
		}},
		{name: "raw tile", build: func(t *testing.T, s *server) {
			s.update(1).rect(4, 4, 2, 1, rfb.EncodingHextile).u8(1).pixel32(red).pixel32(green)
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			assert.Equal(t, uint32(red), at(c.Framebuffer(), 4, 4))
			assert.Equal(t, uint32(green), at(c.Framebuffer(), 5, 4))
		}},
		{name: "subrect outside its tile", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 4, 4, rfb.EncodingHextile)
			s.u8(2|8|16).pixel32(red).u8(1).pixel32(blue).u8(0x33, 0x11)
		}, errMsg: "outside its tile"},
		{name: "truncated", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 16, 16, rfb.EncodingHextile).u8(2 | 8).pixel32(red).u8(200)
		}, errMsg: "unexpected EOF"},
	})
}

// TestHextileInherits: a tile without a background takes the previous tile's.
func TestHextileInherits(t *testing.T) {
	s := hello(32, 16)
	s.update(1).rect(0, 0, 32, 16, rfb.EncodingHextile)
	s.u8(2).pixel32(green)                       // tile 1: green
	s.u8(4|8).pixel32(blue).u8(1).u8(0x00, 0x00) // tile 2: inherits green, one blue pixel
	c, _ := connect(t, s, rfb.Config{})
	_, err := c.ReadMessage()
	if !assert.NoError(t, err) {
		return
	}
	fb := c.Framebuffer()
	assert.Equal(t, uint32(green), at(fb, 0, 0))
	assert.Equal(t, uint32(blue), at(fb, 16, 0))
	assert.Equal(t, uint32(green), at(fb, 17, 0))
}

// zrleTile is one ZRLE tile's uncompressed bytes for 32 bpp (3-byte compact pixels).
func cpix(rgb uint32) []byte { return []byte{uint8(rgb >> 16), uint8(rgb >> 8), uint8(rgb)} }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestZRLE(t *testing.T) {
	zrle := func(x, y, w, h uint16, tiles ...[]byte) func(t *testing.T, s *server) {
		return func(t *testing.T, s *server) {
			chunks := zlibChunks(t, tiles...)
			s.update(uint16(len(chunks)))
			for _, c := range chunks {
				s.rect(x, y, w, h, rfb.EncodingZRLE).u32(uint32(len(c)))
				s.Write(c)
			}
		}
	}
	runCases(t, []fbCase{
		{name: "solid", build: zrle(0, 0, 16, 16, cat([]byte{1}, cpix(red))),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, uint32(red), at(c.Framebuffer(), 0, 0))
				assert.Equal(t, uint32(red), at(c.Framebuffer(), 15, 15))
			}},
		{name: "raw", build: zrle(1, 1, 2, 1, cat([]byte{0}, cpix(blue), cpix(green))),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, uint32(blue), at(c.Framebuffer(), 1, 1))
				assert.Equal(t, uint32(green), at(c.Framebuffer(), 2, 1))
				assert.Equal(t, uint32(white), at(c.Framebuffer(), 3, 1))
			}},
		{name: "packed palette 1 bit, padded rows", build: zrle(0, 0, 3, 2, cat([]byte{2}, cpix(red), cpix(blue), []byte{0b01000000, 0b10100000})),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				fb := c.Framebuffer()
				assert.Equal(t, []uint32{red, blue, red, blue, red, blue},
					[]uint32{at(fb, 0, 0), at(fb, 1, 0), at(fb, 2, 0), at(fb, 0, 1), at(fb, 1, 1), at(fb, 2, 1)})
			}},
		{name: "packed palette 4 bits", build: zrle(0, 0, 2, 1, cat([]byte{5}, cpix(red), cpix(green), cpix(blue), cpix(white), cpix(0), []byte{0x42})),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, uint32(0), at(c.Framebuffer(), 0, 0))
				assert.Equal(t, uint32(blue), at(c.Framebuffer(), 1, 0))
			}},
		{name: "plain RLE across rows", build: zrle(0, 0, 3, 2, cat([]byte{128}, cpix(red), []byte{3}, cpix(blue), []byte{1})),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				fb := c.Framebuffer()
				assert.Equal(t, []uint32{red, red, red, red, blue, blue},
					[]uint32{at(fb, 0, 0), at(fb, 1, 0), at(fb, 2, 0), at(fb, 0, 1), at(fb, 1, 1), at(fb, 2, 1)})
			}},
		{name: "long run", build: zrle(0, 0, 16, 16, cat([]byte{128}, cpix(green), []byte{255, 0})),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, uint32(green), at(c.Framebuffer(), 15, 15))
			}},
		{name: "palette RLE", build: zrle(0, 0, 4, 1, cat([]byte{130}, cpix(red), cpix(blue), []byte{0x81, 1, 0, 1})),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				fb := c.Framebuffer()
				assert.Equal(t, []uint32{blue, blue, red, blue}, []uint32{at(fb, 0, 0), at(fb, 1, 0), at(fb, 2, 0), at(fb, 3, 0)})
			}},
		{name: "one stream over two rectangles", build: zrle(0, 0, 2, 1,
			cat([]byte{1}, cpix(red)), cat([]byte{0}, cpix(green), cpix(blue))),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, uint32(green), at(c.Framebuffer(), 0, 0))
				assert.Equal(t, uint32(blue), at(c.Framebuffer(), 1, 0))
				assert.Len(t, ev.Damage, 2)
			}},
		{name: "tiles of 64", build: zrle(0, 0, 16, 16, cat([]byte{1}, cpix(blue))),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, uint32(blue), at(c.Framebuffer(), 8, 8))
			}},
		{name: "run past the tile", build: zrle(0, 0, 2, 1, cat([]byte{128}, cpix(red), []byte{5})), errMsg: "ZRLE run"},
		{name: "endless run bytes", build: zrle(0, 0, 16, 16, cat([]byte{128}, cpix(red), bytes.Repeat([]byte{255}, 10))), errMsg: "ZRLE run"},
		{name: "palette index out of range", build: zrle(0, 0, 2, 1, cat([]byte{130}, cpix(red), cpix(blue), []byte{5, 0})), errMsg: "palette index"},
		{name: "packed index out of range", build: zrle(0, 0, 2, 1, cat([]byte{3}, cpix(red), cpix(blue), cpix(green), []byte{0xF0})), errMsg: "palette index"},
		{name: "unused subencoding", build: zrle(0, 0, 2, 1, []byte{17}), errMsg: "subencoding 17"},
		{name: "too little data", build: zrle(0, 0, 2, 1, cat([]byte{0}, cpix(red))), errMsg: "corrupt zlib"},
		{name: "not zlib", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 2, 1, rfb.EncodingZRLE).u32(4).u8(1, 2, 3, 4)
		}, errMsg: "corrupt zlib"},
		{name: "huge length", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 2, 1, rfb.EncodingZRLE).u32(0xFFFFFFFF)
		}, errMsg: "ZRLE chunk of 4294967295 bytes"},
	})
}

func TestZRLERGB565(t *testing.T) {
	pf := rfb.PixelFormatRGB565()
	runCases(t, []fbCase{
		{name: "solid 565", cfg: rfb.Config{PixelFormat: &pf}, build: func(t *testing.T, s *server) {
			chunks := zlibChunks(t, []byte{1, 0x1F, 0x00}) // blue, little-endian 0x001F
			s.update(1).rect(0, 0, 16, 16, rfb.EncodingZRLE).u32(uint32(len(chunks[0])))
			s.Write(chunks[0])
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			assert.Equal(t, uint32(blue), at(c.Framebuffer(), 3, 3))
		}},
	})
}
