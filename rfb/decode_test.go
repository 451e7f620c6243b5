package rfb_test

import (
	"bytes"
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/rfb"
)

const (
	red   = 0xFF0000
	green = 0x00FF00
	blue  = 0x0000FF
	white = 0xFFFFFF
)

func at(fb *image.RGBA, x, y int) uint32 {
	c := fb.RGBAAt(x, y)
	return uint32(c.R)<<16 | uint32(c.G)<<8 | uint32(c.B)
}

// fbCase is one update on a 16×16 framebuffer, first painted white by a Raw rectangle.
type fbCase struct {
	name   string
	cfg    rfb.Config
	build  func(t *testing.T, s *server)
	check  func(t *testing.T, c *rfb.Client, ev rfb.Event)
	errMsg string
}

func runCases(t *testing.T, cases []fbCase) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := hello(16, 16)
			bpp := 4
			if tt.cfg.PixelFormat != nil {
				bpp = tt.cfg.PixelFormat.BytesPerPixel()
			}
			s.update(1).rect(0, 0, 16, 16, rfb.EncodingRaw)
			s.Write(bytes.Repeat([]byte{0xFF}, 256*bpp)) // white in any true-colour format
			tt.build(t, s)
			c, _ := connect(t, s, tt.cfg)
			_, err := c.ReadMessage()
			require.NoError(t, err)
			ev, err := c.ReadMessage()
			if tt.errMsg != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errMsg)
				return
			}
			require.NoError(t, err)
			tt.check(t, c, ev)
		})
	}
}

func TestRawCopyRect(t *testing.T) {
	runCases(t, []fbCase{
		{name: "raw", build: func(t *testing.T, s *server) {
			s.update(1).rect(2, 3, 2, 1, rfb.EncodingRaw).pixel32(red).pixel32(blue)
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			assert.Equal(t, []image.Rectangle{image.Rect(2, 3, 4, 4)}, ev.Damage)
			assert.Equal(t, uint32(red), at(c.Framebuffer(), 2, 3))
			assert.Equal(t, uint32(blue), at(c.Framebuffer(), 3, 3))
			assert.Equal(t, uint32(white), at(c.Framebuffer(), 4, 3))
			assert.Equal(t, uint8(255), c.Framebuffer().RGBAAt(2, 3).A, "opaque")
		}},
		{name: "copyrect overlapping down", build: func(t *testing.T, s *server) {
			s.update(2).rect(0, 0, 1, 2, rfb.EncodingRaw).pixel32(red).pixel32(blue)
			s.rect(0, 1, 1, 2, rfb.EncodingCopyRect).u16(0, 0)
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			fb := c.Framebuffer()
			assert.Equal(t, []uint32{red, red, blue}, []uint32{at(fb, 0, 0), at(fb, 0, 1), at(fb, 0, 2)})
		}},
		{name: "copyrect source outside", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 4, 4, rfb.EncodingCopyRect).u16(14, 0)
		}, errMsg: "CopyRect source"},
		{name: "rect outside framebuffer", build: func(t *testing.T, s *server) {
			s.update(1).rect(10, 10, 7, 1, rfb.EncodingRaw)
		}, errMsg: "outside the 16x16 framebuffer"},
		{name: "encoding not offered", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 1, 1, 7)
		}, errMsg: "did not offer"},
		{name: "truncated raw", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 4, 4, rfb.EncodingRaw).pixel32(red)
		}, errMsg: "unexpected EOF"},
		{name: "last rect ends early", build: func(t *testing.T, s *server) {
			s.update(0xFFFF).rect(0, 0, 1, 1, rfb.EncodingRaw).pixel32(red).rect(0, 0, 0, 0, rfb.EncodingLastRect)
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			assert.Equal(t, []image.Rectangle{image.Rect(0, 0, 1, 1)}, ev.Damage)
		}},
		{name: "desktop size", build: func(t *testing.T, s *server) {
			s.update(2).rect(0, 0, 40, 30, rfb.EncodingDesktopSize).rect(39, 29, 1, 1, rfb.EncodingRaw).pixel32(red)
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			assert.True(t, ev.Resized)
			assert.Equal(t, image.Rect(0, 0, 40, 30), c.Framebuffer().Rect)
			w, h := c.Size()
			assert.Equal(t, [2]int{40, 30}, [2]int{w, h})
			assert.Equal(t, []image.Rectangle{image.Rect(0, 0, 40, 30)}, ev.Damage)
			assert.Equal(t, uint32(white), at(c.Framebuffer(), 15, 15), "old picture kept")
			assert.Equal(t, uint32(red), at(c.Framebuffer(), 39, 29))
		}},
		{name: "desktop size too large", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 9000, 30, rfb.EncodingDesktopSize)
		}, errMsg: "larger than the limit"},
		{name: "extended desktop size", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 20, 10, rfb.EncodingExtendedDesktopSize).u8(1, 0, 0, 0)
			s.u32(1).u16(0, 0, 20, 10).u32(0)
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			assert.True(t, ev.Resized)
			assert.Equal(t, image.Rect(0, 0, 20, 10), c.Framebuffer().Rect)
		}},
		{name: "extended desktop size refused", build: func(t *testing.T, s *server) {
			s.update(1).rect(1, 3, 20, 10, rfb.EncodingExtendedDesktopSize).u8(0, 0, 0, 0)
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			assert.False(t, ev.Resized)
			assert.Equal(t, image.Rect(0, 0, 16, 16), c.Framebuffer().Rect)
		}},
		{name: "cursor", build: func(t *testing.T, s *server) {
			s.update(1).rect(1, 0, 2, 2, rfb.EncodingCursor)
			s.pixel32(red).pixel32(green).pixel32(blue).pixel32(white)
			s.u8(0b10000000, 0b01000000) // row 0: left opaque; row 1: right opaque
		}, check: func(t *testing.T, c *rfb.Client, ev rfb.Event) {
			assert.True(t, ev.CursorChanged)
			cur := c.Cursor()
			require.NotNil(t, cur.Image)
			assert.Equal(t, image.Pt(1, 0), cur.Hotspot)
			assert.Equal(t, color.RGBA{255, 0, 0, 255}, cur.Image.RGBAAt(0, 0))
			assert.Equal(t, uint8(0), cur.Image.RGBAAt(1, 0).A)
			assert.Equal(t, uint8(0), cur.Image.RGBAAt(0, 1).A)
			assert.Equal(t, color.RGBA{255, 255, 255, 255}, cur.Image.RGBAAt(1, 1))
			assert.Empty(t, ev.Damage)
		}},
		{name: "cursor too large", build: func(t *testing.T, s *server) {
			s.update(1).rect(0, 0, 1000, 1000, rfb.EncodingCursor)
		}, errMsg: "cursor of 1000x1000"},
	})
}

func TestMessages(t *testing.T) {
	s := hello(4, 4)
	s.u8(2)                          // Bell
	s.u8(3, 0, 0, 0).str("clip\xe9") // ServerCutText, Latin-1
	s.u8(3, 0, 0, 0).u32(100_000)    // too long: skipped
	s.Write(bytes.Repeat([]byte{'x'}, 100_000))
	s.u8(1, 0, 0, 0, 0, 2).u16(1, 2, 3, 4, 5, 6) // SetColourMapEntries: 2 colours
	s.u8(2)
	s.u8(99)
	c, _ := connect(t, s, rfb.Config{})
	for _, want := range []rfb.Event{
		{Kind: rfb.EventBell}, {Kind: rfb.EventCutText, Text: "clipé"}, {Kind: rfb.EventCutText},
		{Kind: rfb.EventColourMap}, {Kind: rfb.EventBell},
	} {
		ev, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, want, ev)
	}
	_, err := c.ReadMessage()
	assert.ErrorContains(t, err, "unknown message type 99")
}

func TestClientMessages(t *testing.T) {
	c, p := connect(t, hello(100, 50), rfb.Config{})
	p.sent.Reset()
	require.NoError(t, c.RequestUpdate(true, image.Rect(10, 20, 200, 30)))
	require.NoError(t, c.KeyEvent(0xFF1B, true))
	require.NoError(t, c.PointerEvent(5, 99, 49))
	require.NoError(t, c.CutText("hé"))
	assert.ErrorIs(t, c.CutText("€"), rfb.ErrNotLatin1)
	assert.Equal(t, []byte{
		3, 1, 0, 10, 0, 20, 0, 90, 0, 10, // clipped to the framebuffer
		4, 1, 0, 0, 0, 0, 0xFF, 0x1B,
		5, 5, 0, 99, 0, 49,
		6, 0, 0, 0, 0, 0, 0, 2, 'h', 0xE9,
	}, p.sent.Bytes())
}
