package rfb_test

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/hex"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// amt16 writes one FramebufferUpdate of encoding-16 rectangles at (x, 0), each w×h, one per
// payload.
func amt16(x, w, h uint16, payloads ...[]byte) func(t *testing.T, s *server) {
	return func(t *testing.T, s *server) {
		s.update(uint16(len(payloads)))
		for _, p := range payloads {
			s.rect(x, 0, w, h, rfb.EncodingAMTRLE).u32(uint32(len(p)))
			s.Write(p)
		}
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func row(c *rfb.Client, y int, xs ...int) []uint32 {
	out := make([]uint32, len(xs))
	for i, x := range xs {
		out[i] = at(c.Framebuffer(), x, y)
	}
	return out
}

// TestAMTRLEIntelCapture decodes the bytes quoted in Intel's ui-toolkit (Encoding.ts) from an
// AMT at 8 bpp: two 64×64 rectangles, the first payload starting the zlib stream (78 9C), the
// second continuing it; each inflates to 01 00, a solid black tile.
func TestAMTRLEIntelCapture(t *testing.T) {
	pf := rfb.PixelFormatRGB332()
	s := hello(128, 64)
	s.update(1).rect(0, 0, 128, 64, rfb.EncodingRaw)
	s.Write(bytes.Repeat([]byte{0xFF}, 128*64))
	s.u8(0, 0, 0, 2) // FramebufferUpdate of 2 rectangles, then Intel's bytes
	s.Write(unhex(t, "0000000000400040000000100000000A789C626400000000FFFF00400000004000400000001000000008626400000000FFFF"))
	c, _ := connect(t, s, rfb.AMTConfig(pf))
	_, err := c.ReadMessage()
	require.NoError(t, err)
	ev, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Len(t, ev.Damage, 2)
	assert.Equal(t, []uint32{0, 0, 0}, row(c, 63, 0, 64, 127))
}

// TestAMTRLEStored: zlib off, every payload one deflate stored block (00 LEN NLEN, LEN
// little-endian) around the tile's bytes, written out by hand.
func TestAMTRLEStored(t *testing.T) {
	rgb565, rgb332 := rfb.PixelFormatRGB565(), rfb.PixelFormatRGB332()
	gray8, gray4 := rfb.PixelFormatGray8(), rfb.PixelFormatGray4()
	amt565, amt332 := rfb.AMTConfig(rgb565), rfb.AMTConfig(rgb332)
	runCases(t, []fbCase{
		{name: "565 solid", cfg: amt565, build: amt16(0, 16, 16,
			[]byte{0x00, 0x03, 0x00, 0xFC, 0xFF, 0x01, 0x1F, 0x00}), // blue 0x001F
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{blue, blue}, row(c, 15, 0, 15))
			}},
		{name: "565 raw", cfg: amt565, build: amt16(1, 2, 1,
			[]byte{0x00, 0x05, 0x00, 0xFA, 0xFF, 0x00, 0x00, 0xF8, 0xE0, 0x07}), // red, green
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{white, red, green, white}, row(c, 0, 0, 1, 2, 3))
			}},
		{name: "565 packed palette 1 bit", cfg: amt565, build: amt16(0, 3, 2,
			// 02, palette red blue, rows 010 and 101 padded to a byte
			[]byte{0x00, 0x07, 0x00, 0xF8, 0xFF, 0x02, 0x00, 0xF8, 0x1F, 0x00, 0x40, 0xA0}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{red, blue, red}, row(c, 0, 0, 1, 2))
				assert.Equal(t, []uint32{blue, red, blue}, row(c, 1, 0, 1, 2))
			}},
		{name: "565 packed palette 2 bits", cfg: amt565, build: amt16(0, 3, 1,
			// 03, palette red green blue, indices 2 1 0
			[]byte{0x00, 0x08, 0x00, 0xF7, 0xFF, 0x03, 0x00, 0xF8, 0xE0, 0x07, 0x1F, 0x00, 0x90}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{blue, green, red}, row(c, 0, 0, 1, 2))
			}},
		{name: "565 plain RLE", cfg: amt565, build: amt16(0, 3, 2,
			// 80, red run 4 (1+3), blue run 2 (1+1)
			[]byte{0x00, 0x07, 0x00, 0xF8, 0xFF, 0x80, 0x00, 0xF8, 0x03, 0x1F, 0x00, 0x01}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{red, red, red}, row(c, 0, 0, 1, 2))
				assert.Equal(t, []uint32{red, blue, blue}, row(c, 1, 0, 1, 2))
			}},
		{name: "565 palette RLE", cfg: amt565, build: amt16(0, 4, 1,
			// 82, palette red blue, blue run 2, red, blue
			[]byte{0x00, 0x09, 0x00, 0xF6, 0xFF, 0x82, 0x00, 0xF8, 0x1F, 0x00, 0x81, 0x01, 0x00, 0x01}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{blue, blue, red, blue}, row(c, 0, 0, 1, 2, 3))
			}},
		{name: "332 solid", cfg: amt332, build: amt16(0, 16, 16,
			[]byte{0x00, 0x02, 0x00, 0xFD, 0xFF, 0x01, 0x1C}), // green 0b000_111_00
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{green, green}, row(c, 15, 0, 15))
			}},
		{name: "332 raw", cfg: amt332, build: amt16(0, 2, 1,
			[]byte{0x00, 0x03, 0x00, 0xFC, 0xFF, 0x00, 0xE0, 0x03}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{red, blue}, row(c, 0, 0, 1))
			}},
		{name: "332 packed palette 4 bits", cfg: amt332, build: amt16(0, 3, 1,
			// 05, palette red green blue white black, indices 4 2 0 (padded)
			[]byte{0x00, 0x08, 0x00, 0xF7, 0xFF, 0x05, 0xE0, 0x1C, 0x03, 0xFF, 0x00, 0x42, 0x00}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{0, blue, red}, row(c, 0, 0, 1, 2))
			}},
		{name: "332 plain RLE long run", cfg: amt332, build: amt16(0, 16, 16,
			// 80, red run 256 (1+255+0)
			[]byte{0x00, 0x04, 0x00, 0xFB, 0xFF, 0x80, 0xE0, 0xFF, 0x00}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{red, red}, row(c, 15, 0, 15))
			}},
		{name: "332 palette RLE", cfg: amt332, build: amt16(0, 3, 1,
			// 82, palette blue red, red run 2, blue
			[]byte{0x00, 0x06, 0x00, 0xF9, 0xFF, 0x82, 0x03, 0xE0, 0x81, 0x01, 0x00}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{red, red, blue}, row(c, 0, 0, 1, 2))
			}},
		{name: "gray 8 raw", cfg: rfb.AMTConfig(gray8), build: amt16(0, 3, 1,
			[]byte{0x00, 0x04, 0x00, 0xFB, 0xFF, 0x00, 0x00, 0x80, 0xFF}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{0, 0x808080, white}, row(c, 0, 0, 1, 2))
			}},
		{name: "gray 4 raw", cfg: rfb.AMTConfig(gray4), build: amt16(0, 3, 1,
			[]byte{0x00, 0x04, 0x00, 0xFB, 0xFF, 0x00, 0x00, 0x08, 0x0F}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, []uint32{0, 0x888888, white}, row(c, 0, 0, 1, 2))
			}},
		{name: "final stored block", cfg: amt565, build: amt16(0, 1, 1,
			[]byte{0x01, 0x03, 0x00, 0xFC, 0xFF, 0x01, 0x00, 0xF8}),
			check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
				assert.Equal(t, uint32(red), at(c.Framebuffer(), 0, 0))
			}},
		{name: "stored tile too short", cfg: amt565, build: amt16(0, 2, 1,
			[]byte{0x00, 0x03, 0x00, 0xFC, 0xFF, 0x00, 0x00, 0xF8}), errMsg: "unexpected EOF"},
		{name: "empty rectangle", cfg: amt565, build: amt16(0, 0, 1,
			[]byte{0x00, 0x03, 0x00, 0xFC, 0xFF, 0x01, 0x00, 0xF8}), errMsg: "0x1"},
		{name: "huge length", cfg: amt565, build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 4, 4, rfb.EncodingAMTRLE).u32(0x7FFFFFFF)
		}, errMsg: "payload of 2147483647 bytes"},
		{name: "neither stored nor deflate", cfg: amt565, build: amt16(0, 1, 1,
			[]byte{0xFF, 0xFF, 0xFF, 0xFF}), errMsg: "corrupt zlib"},
	})
}

func TestAMTRLELargerThanATile(t *testing.T) {
	s := hello(128, 128)
	amt16(0, 65, 1, []byte{0x00, 0x03, 0x00, 0xFC, 0xFF, 0x01, 0x00, 0xF8})(t, s)
	c, _ := connect(t, s, rfb.AMTConfig(rfb.PixelFormatRGB565()))
	_, err := c.ReadMessage()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rectangle of 65x1")
}

// deflateChunks compresses each tile with a sync flush through one stream: zlib-wrapped, or
// bare deflate.
func deflateChunks(t testing.TB, raw bool, tiles ...[]byte) [][]byte {
	t.Helper()
	if !raw {
		return zlibChunks(t, tiles...)
	}
	var out bytes.Buffer
	fw, err := flate.NewWriter(&out, flate.BestCompression)
	require.NoError(t, err)
	res := make([][]byte, 0, len(tiles))
	for _, c := range tiles {
		_, err := fw.Write(c)
		require.NoError(t, err)
		require.NoError(t, fw.Flush())
		res = append(res, bytes.Clone(out.Bytes()))
		out.Reset()
	}
	return res
}

// TestAMTRLEDeflate: zlib on; the tiles' bytes are written by hand, compressed by the test
// through one stream for the session, zlib-wrapped (Intel's toolkit) or bare (MeshCentral).
func TestAMTRLEDeflate(t *testing.T) {
	tiles565 := [][]byte{
		{0x01, 0x1F, 0x00}, // solid blue
		{0x00, 0x00, 0xF8, 0xE0, 0x07, 0x1F, 0x00, 0xFF, 0xFF}, // raw red green blue white
		{0x02, 0x00, 0xF8, 0x1F, 0x00, 0x50},                   // packed: red blue red blue
		{0x80, 0xE0, 0x07, 0x02, 0x00, 0xF8, 0x00},             // RLE: green ×3, red
		{0x82, 0x00, 0xF8, 0x1F, 0x00, 0x00, 0x81, 0x01, 0x00}, // palette RLE: red, blue ×2, red
	}
	want565 := [][]uint32{
		{blue, blue, blue, blue}, {red, green, blue, white}, {red, blue, red, blue},
		{green, green, green, red}, {red, blue, blue, red},
	}
	tiles332 := [][]byte{
		{0x01, 0xE0},                                     // solid red
		{0x00, 0x03, 0x1C, 0xE0, 0xFF},                   // raw blue green red white
		{0x03, 0xE0, 0x1C, 0x03, 0x18},                   // packed 2 bits: red, green, blue, red
		{0x80, 0x03, 0x03},                               // RLE: blue ×4
		{0x83, 0x1C, 0xE0, 0x03, 0x82, 0x01, 0x00, 0x01}, // palette RLE: blue ×2, green, red
	}
	want332 := [][]uint32{
		{red, red, red, red}, {blue, green, red, white}, {red, green, blue, red},
		{blue, blue, blue, blue}, {blue, blue, green, red},
	}
	for _, raw := range []bool{false, true} {
		for _, tc := range []struct {
			name  string
			pf    rfb.PixelFormat
			tiles [][]byte
			want  [][]uint32
		}{
			{"565", rfb.PixelFormatRGB565(), tiles565, want565},
			{"332", rfb.PixelFormatRGB332(), tiles332, want332},
		} {
			name := tc.name + " zlib"
			if raw {
				name = tc.name + " bare deflate"
			}
			t.Run(name, func(t *testing.T) {
				chunks := deflateChunks(t, raw, tc.tiles...)
				if !raw {
					require.Equal(t, []byte{0x78, 0x9C}, chunks[0][:2], "a zlib stream starts 78 9C")
				}
				s := hello(4, 1)
				for _, c := range chunks {
					amt16(0, 4, 1, c)(t, s)
				}
				c, _ := connect(t, s, rfb.AMTConfig(tc.pf))
				for i, want := range tc.want {
					_, err := c.ReadMessage()
					require.NoError(t, err, "tile %d", i)
					assert.Equal(t, want, row(c, 0, 0, 1, 2, 3), "tile %d", i)
				}
			})
		}
	}
}

// TestAMTRLESwitch: KvmExtCmd switches compression mid-session; the payloads say which form
// they are. A new zlib header starts a new stream.
func TestAMTRLESwitch(t *testing.T) {
	first := zlibChunks(t, []byte{0x01, 0x00, 0xF8}, []byte{0x01, 0xE0, 0x07})
	second := zlibChunks(t, []byte{0x01, 0x1F, 0x00})
	s := hello(1, 1)
	amt16(0, 1, 1, first[0])(t, s)
	amt16(0, 1, 1, []byte{0x00, 0x03, 0x00, 0xFC, 0xFF, 0x01, 0xFF, 0xFF})(t, s) // stored: white
	amt16(0, 1, 1, first[1])(t, s)                                               // the stream goes on
	amt16(0, 1, 1, second[0])(t, s)                                              // a new stream
	c, _ := connect(t, s, rfb.AMTConfig(rfb.PixelFormatRGB565()))
	for i, want := range []uint32{red, white, green, blue} {
		_, err := c.ReadMessage()
		require.NoError(t, err, "payload %d", i)
		assert.Equal(t, want, at(c.Framebuffer(), 0, 0), "payload %d", i)
	}
}

// TestAMTRLEBomb: a payload inflating far beyond its tile (a solid tile, then 8 MiB of zeros,
// compressed into the size a raw tile may have) costs the tile, not the 8 MiB.
func TestAMTRLEBomb(t *testing.T) {
	var b bytes.Buffer
	zw, err := zlib.NewWriterLevel(&b, zlib.BestCompression)
	require.NoError(t, err)
	_, err = zw.Write(append([]byte{0x01, 0x00, 0xF8}, make([]byte, 8<<20)...))
	require.NoError(t, err)
	require.NoError(t, zw.Flush())
	require.Less(t, b.Len(), 64*64*2, "the bomb fits the payload limit of a 64x64 tile")
	s := hello(64, 64)
	amt16(0, 64, 64, b.Bytes())(t, s)
	c, _ := connect(t, s, rfb.AMTConfig(rfb.PixelFormatRGB565()))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = c.ReadMessage()
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, uint32(red), at(c.Framebuffer(), 63, 63))
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated decoding the bomb")
}

func TestAMTSetEncodings(t *testing.T) {
	s := &server{}
	s.WriteString("RFB 004.000\n")
	s.u8(1, rfb.SecurityNone).u32(0)
	s.u16(1024, 768)
	s.Write(rfb.PixelFormatRGB565().Marshal())
	s.str("AMT")
	c, p := connect(t, s, rfb.AMTConfig(rfb.PixelFormatRGB565()))
	assert.Equal(t, rfb.Version{Major: 3, Minor: 8}, c.Version())
	assert.Equal(t, rfb.PixelFormatRGB565(), c.ServerPixelFormat())
	assert.Equal(t, cat(
		[]byte("RFB 003.008\n"), []byte{1}, []byte{1}, // version, None, shared
		[]byte{0, 0, 0, 0, 16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0}, // RGB565 LE
		[]byte{2, 0, 0, 3, 0, 0, 0, 16, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x21},      // 16, RAW, -223
	), p.sent.Bytes())
}

func TestGrayPixelFormats(t *testing.T) {
	assert.Equal(t, []byte{8, 8, 0, 1, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, rfb.PixelFormatGray8().Marshal())
	assert.Equal(t, []byte{8, 4, 0, 1, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, rfb.PixelFormatGray4().Marshal())
	for _, pf := range []rfb.PixelFormat{rfb.PixelFormatGray8(), rfb.PixelFormatGray4()} {
		assert.True(t, pf.Grayscale())
		require.NoError(t, pf.Validate())
	}
	assert.False(t, rfb.PixelFormatRGB332().Grayscale())
}
