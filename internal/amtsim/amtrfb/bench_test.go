package amtrfb_test

import (
	"bytes"
	"image"
	"image/color"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/amtsim/amtrfb"
	"github.com/kvmrelay/kvmrelay/rfb"
)

// desktop is a synthetic w×h desktop: a plain background, a taskbar, windows of text
// (one-pixel glyph strokes) under gradient title bars, and a photo-like noisy gradient.
func desktop(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill := func(r image.Rectangle, c color.RGBA) {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				img.SetRGBA(x, y, c)
			}
		}
	}
	fill(img.Rect, color.RGBA{0x20, 0x60, 0x80, 0xFF})
	fill(image.Rect(0, h-40, w, h), color.RGBA{0xC0, 0xC0, 0xC0, 0xFF})
	rng := rand.New(rand.NewPCG(1, 2))
	for _, win := range []image.Rectangle{image.Rect(40, 40, 700, 600), image.Rect(500, 300, 1200, 900), image.Rect(100, 650, 450, 950)} {
		fill(win, color.RGBA{0xFF, 0xFF, 0xFF, 0xFF})
		for x := win.Min.X; x < win.Max.X; x++ {
			v := uint8(0x40 + (x-win.Min.X)*0x80/win.Dx())
			fill(image.Rect(x, win.Min.Y, x+1, win.Min.Y+24), color.RGBA{0x10, 0x30, v, 0xFF})
		}
		for y := win.Min.Y + 32; y+12 < win.Max.Y; y += 16 {
			for x := win.Min.X + 8; x+8 < win.Max.X-8 && rng.IntN(40) != 0; x += 8 {
				for range 6 { // strokes of one glyph
					gx, gy := x+rng.IntN(6), y+rng.IntN(10)
					fill(image.Rect(gx, gy, gx+1+rng.IntN(2), gy+1+rng.IntN(3)), color.RGBA{0, 0, 0, 0xFF})
				}
			}
		}
	}
	photo := image.Rect(760, 60, 1160, 280)
	for y := photo.Min.Y; y < photo.Max.Y; y++ {
		for x := photo.Min.X; x < photo.Max.X; x++ {
			n := rng.IntN(24)
			img.SetRGBA(x, y, color.RGBA{uint8(x/2 + n), uint8(y + n), uint8((x+y)/4 + n), 0xFF})
		}
	}
	return img
}

// recording is a connection whose received bytes are kept.
type recording struct {
	net.Conn
	got bytes.Buffer
}

func (r *recording) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.got.Write(p[:n])
	return n, err
}

// frame records what Serve sends for one full update of img: the handshake and the frame.
func frame(b *testing.B, img *image.RGBA, srv amtrfb.Config, cfg func() rfb.Config) []byte {
	conn, _ := session(b, amtrfb.NewImageScreen(img), srv)
	rec := &recording{Conn: conn}
	c, err := rfb.NewClient(rec, cfg())
	require.NoError(b, err)
	require.NoError(b, c.RequestFull(false))
	ev, err := c.ReadMessage()
	require.NoError(b, err)
	require.Equal(b, rfb.EventUpdate, ev.Kind)
	return bytes.Clone(rec.got.Bytes())
}

type replay struct {
	io.Reader
	io.Writer
}

// BenchmarkDecodeFrame is the agent's cost of one whole desktop frame as AMT sends it:
// 1280×1024 at 16 bpp in encoding 16 (zlib, or stored blocks) against RAW tiles, and
// 1920×1080 at 8 bpp (what a large screen gets) in encoding 16.
func BenchmarkDecodeFrame(b *testing.B) {
	amt := func() rfb.Config { return rfb.AMTConfig(rfb.PixelFormatRGB565()) }
	amt8 := func() rfb.Config { return rfb.AMTConfig(rfb.PixelFormatRGB332()) }
	raw := func() rfb.Config {
		cfg := amt()
		cfg.Decoders = []rfb.Decoder{rfb.Raw{}}
		return cfg
	}
	for _, bc := range []struct {
		name string
		w, h int
		srv  amtrfb.Config
		cfg  func() rfb.Config
	}{
		{"1280x1024-16bpp-encoding16-zlib", 1280, 1024, amtrfb.Config{}, amt},
		{"1280x1024-16bpp-encoding16-stored", 1280, 1024, amtrfb.Config{ZlibOff: true}, amt},
		{"1280x1024-16bpp-raw", 1280, 1024, amtrfb.Config{}, raw},
		{"1920x1080-8bpp-encoding16-zlib", 1920, 1080, amtrfb.Config{}, amt8},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data := frame(b, desktop(bc.w, bc.h), bc.srv, bc.cfg)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				c, err := rfb.NewClient(replay{bytes.NewReader(data), io.Discard}, bc.cfg())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := c.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "wire-bytes/frame")
		})
	}
}
