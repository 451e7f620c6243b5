package amtrfb_test

import (
	"context"
	"image"
	"image/color"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/amtsim/amtrfb"
	"github.com/kvmrelay/kvmrelay/rfb"
)

// session runs Serve on one end of a pipe and returns the other end for a client; Serve's
// result arrives on the channel when it ends.
func session(t testing.TB, screen amtrfb.Screen, cfg amtrfb.Config) (net.Conn, <-chan error) {
	t.Helper()
	// TCP, not net.Pipe: its buffers let the server answer while the client still writes,
	// as on a real network.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server, err := ln.Accept()
	require.NoError(t, err)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- amtrfb.Serve(ctx, server, screen, cfg) }()
	res := make(chan error, 1)
	go func() { res <- <-done }()
	t.Cleanup(func() {
		_ = client.Close()
		cancel()
		<-res
	})
	require.NoError(t, client.SetDeadline(time.Now().Add(20*time.Second)))
	return client, doneOnce(res)
}

// doneOnce lets a test read Serve's result once while the cleanup still waits for it.
func doneOnce(res chan error) <-chan error {
	out := make(chan error, 1)
	go func() {
		err := <-res
		out <- err
		res <- err
	}()
	return out
}

// pattern is a test picture: four coloured quadrants, a gray ramp along the top row and a
// white dot per 50 px elsewhere, so every sub-encoding has work.
func pattern(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{A: 0xFF}
			switch {
			case y == 0:
				c.R, c.G, c.B = uint8(x), uint8(x), uint8(x)
			case x%50 == 0 && y%50 == 0:
				c = color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}
			case x < w/2 && y < h/2:
				c.R = 0xFF
			case y < h/2:
				c.G = 0xFF
			case x < w/2:
				c.B = 0xFF
			default:
				c.R, c.G = 0x80, 0x40
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// near asserts that got is want within what pf keeps of colours.
func near(t *testing.T, pf rfb.PixelFormat, want, got color.RGBA, where image.Point) bool {
	t.Helper()
	if !within(pf, want, got) {
		return assert.Fail(t, "colour differs", "at %v: want %v, got %v in %s", where, want, got, pf)
	}
	return true
}

// within reports whether got is want within what pf keeps: one step of each channel's
// precision (of the luminance, for gray formats).
func within(pf rfb.PixelFormat, want, got color.RGBA) bool {
	if pf.Grayscale() {
		lum := (77*int(want.R) + 150*int(want.G) + 29*int(want.B)) >> 8
		want = color.RGBA{uint8(lum), uint8(lum), uint8(lum), 0xFF}
	}
	tol := func(max uint16) int {
		if max == 0 {
			max = pf.RedMax // gray: all channels carry the luminance
		}
		return 256/(int(max)+1) + 1
	}
	for _, c := range []struct {
		w, g uint8
		max  uint16
	}{{want.R, got.R, pf.RedMax}, {want.G, got.G, pf.GreenMax}, {want.B, got.B, pf.BlueMax}} {
		if d := int(c.w) - int(c.g); d > tol(c.max) || -d > tol(c.max) {
			return false
		}
	}
	return true
}

// readMatch reads updates, answering each with an incremental request, until the client's
// picture has the size of want and agrees with it (within pf) or the connection fails.
func readMatch(t *testing.T, c *rfb.Client, pf rfb.PixelFormat, want *image.RGBA) {
	t.Helper()
	for {
		ev, err := c.ReadMessageFunc(func() { _ = c.RequestFull(true) })
		require.NoError(t, err)
		if ev.Resized {
			require.NoError(t, c.RequestFull(false))
		}
		if ev.Kind != rfb.EventUpdate || c.Framebuffer().Rect != want.Rect {
			continue
		}
		ok := true
		fb := c.Framebuffer()
		for y := 0; y < want.Rect.Dy() && ok; y += 7 {
			for x := 0; x < want.Rect.Dx() && ok; x += 3 {
				if fb.RGBAAt(x, y) == (color.RGBA{}) {
					ok = false // not drawn yet
				}
			}
		}
		if !ok {
			continue
		}
		for y := range want.Rect.Dy() {
			for x := range want.Rect.Dx() {
				if !near(t, pf, want.RGBAAt(x, y), fb.RGBAAt(x, y), image.Pt(x, y)) {
					return
				}
			}
		}
		return
	}
}

func TestClientFormats(t *testing.T) {
	img := pattern(200, 130)
	amt := func(pf rfb.PixelFormat) rfb.Config { return rfb.AMTConfig(pf) }
	rawOnly := rfb.AMTConfig(rfb.PixelFormatRGB565())
	rawOnly.Decoders = []rfb.Decoder{rfb.Raw{}}
	tests := []struct {
		name string
		cfg  rfb.Config
		srv  amtrfb.Config
	}{
		{"565 zlib", amt(rfb.PixelFormatRGB565()), amtrfb.Config{}},
		{"565 stored", amt(rfb.PixelFormatRGB565()), amtrfb.Config{ZlibOff: true}},
		{"565 bare deflate", amt(rfb.PixelFormatRGB565()), amtrfb.Config{RawDeflate: true}},
		{"332 zlib", amt(rfb.PixelFormatRGB332()), amtrfb.Config{}},
		{"332 stored", amt(rfb.PixelFormatRGB332()), amtrfb.Config{ZlibOff: true}},
		{"gray 8", amt(rfb.PixelFormatGray8()), amtrfb.Config{}},
		{"gray 4", amt(rfb.PixelFormatGray4()), amtrfb.Config{ZlibOff: true}},
		{"raw only", rawOnly, amtrfb.Config{}},
		{"version 3.8", amt(rfb.PixelFormatRGB565()), amtrfb.Config{Version: "RFB 003.008\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, _ := session(t, amtrfb.NewImageScreen(img), tt.srv)
			c, err := rfb.NewClient(conn, tt.cfg)
			require.NoError(t, err)
			assert.Equal(t, rfb.PixelFormatRGB565(), c.ServerPixelFormat())
			require.NoError(t, c.RequestFull(false))
			readMatch(t, c, *tt.cfg.PixelFormat, img)
		})
	}
}

// TestResize: the screen changes size; the client gets DesktopSize, asks for everything and
// draws the new picture.
func TestResize(t *testing.T) {
	screen := amtrfb.NewImageScreen(pattern(100, 80))
	conn, _ := session(t, screen, amtrfb.Config{})
	pf := rfb.PixelFormatRGB565()
	c, err := rfb.NewClient(conn, rfb.AMTConfig(pf))
	require.NoError(t, err)
	require.NoError(t, c.RequestFull(false))
	readMatch(t, c, pf, pattern(100, 80))
	bigger := pattern(300, 170)
	screen.Draw(func(*image.RGBA) *image.RGBA { return bigger })
	readMatch(t, c, pf, bigger)
	w, h := c.Size()
	assert.Equal(t, [2]int{300, 170}, [2]int{w, h})
}

// TestSwitchZlib: KvmExtCmd switches compression during the session; the client keeps
// drawing and reads the server's answers.
func TestSwitchZlib(t *testing.T) {
	screen := amtrfb.NewImageScreen(pattern(100, 80))
	conn, _ := session(t, screen, amtrfb.Config{})
	pf := rfb.PixelFormatRGB565()
	cfg := rfb.AMTConfig(pf)
	cfg.PseudoEncodings = append(cfg.PseudoEncodings, rfb.EncodingIntelKvmData)
	c, err := rfb.NewClient(conn, cfg)
	require.NoError(t, err)
	for i, on := range []byte{0, 1, 0} {
		require.NoError(t, c.SendKvmExtCmd(rfb.KvmExtSetZlib, on))
		screen.Draw(func(img *image.RGBA) *image.RGBA {
			return pattern(100+i*20, 80)
		})
		require.NoError(t, c.RequestFull(false))
		readMatch(t, c, pf, pattern(100+i*20, 80))
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name    string
		img     image.Rectangle
		srv     amtrfb.Config
		cfg     func() rfb.Config
		want    error
		atStart bool // the client's handshake must fail (else it may, or a later read)
	}{
		{"drop after ServerInit", image.Rect(0, 0, 64, 64), amtrfb.Config{DropAfterServerInit: true},
			func() rfb.Config { return rfb.AMTConfig(rfb.PixelFormatRGB565()) }, amtrfb.ErrDropped, false},
		{"oversize at 16 bpp", image.Rect(0, 0, 2561, 1800), amtrfb.Config{},
			func() rfb.Config { return rfb.AMTConfig(rfb.PixelFormatRGB565()) }, amtrfb.ErrOversize, true},
		// Served at 8 bpp, the screen fits; the client's SetPixelFormat to 16 bpp does not.
		{"oversize by SetPixelFormat", image.Rect(0, 0, 64, 32),
			amtrfb.Config{PixelFormat: ptr(rfb.PixelFormatRGB332()), MaxFramebufferBytes: 64 * 32},
			func() rfb.Config { return rfb.AMTConfig(rfb.PixelFormatRGB565()) }, amtrfb.ErrOversize, false},
		{"inactivity", image.Rect(0, 0, 64, 64), amtrfb.Config{InactivityTimeout: 300 * time.Millisecond},
			func() rfb.Config { return rfb.AMTConfig(rfb.PixelFormatRGB565()) }, amtrfb.ErrInactive, false},
		{"32 bpp refused", image.Rect(0, 0, 64, 64), amtrfb.Config{},
			func() rfb.Config { return rfb.Config{Decoders: []rfb.Decoder{rfb.Raw{}}} }, amtrfb.ErrPixelFormat, false},
		{"no RAW", image.Rect(0, 0, 64, 64), amtrfb.Config{},
			func() rfb.Config {
				cfg := rfb.AMTConfig(rfb.PixelFormatRGB565())
				cfg.Decoders = []rfb.Decoder{&rfb.AMTRLE{}}
				return cfg
			}, amtrfb.ErrNoRaw, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, done := session(t, amtrfb.NewImageScreen(image.NewRGBA(tt.img)), tt.srv)
			c, err := rfb.NewClient(conn, tt.cfg())
			if tt.atStart {
				require.Error(t, err, "the server closes during the client's handshake")
			} else if err == nil {
				_ = c.RequestFull(false)
				for err == nil {
					_, err = c.ReadMessageFunc(func() { _ = c.RequestFull(true) })
				}
			}
			require.Error(t, err, "the session ends for the client")
			require.ErrorIs(t, <-done, tt.want)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestOverlay: what Overlay draws is what the client sees; the screen itself is untouched.
func TestOverlay(t *testing.T) {
	screen := amtrfb.NewImageScreen(solid(100, 80, red))
	conn, _ := session(t, screen, amtrfb.Config{Overlay: func(img *image.RGBA) {
		for y := 5; y < 15; y++ {
			for x := 5; x < 15; x++ {
				img.SetRGBA(x, y, blue)
			}
		}
	}})
	pf := rfb.PixelFormatRGB565()
	c, err := rfb.NewClient(conn, rfb.AMTConfig(pf))
	require.NoError(t, err)
	require.NoError(t, c.RequestFull(false))
	want := solid(100, 80, red)
	for y := 5; y < 15; y++ {
		for x := 5; x < 15; x++ {
			want.SetRGBA(x, y, blue)
		}
	}
	readMatch(t, c, pf, want)
	assert.Equal(t, red, screen.Snapshot(nil).RGBAAt(7, 7))
}
