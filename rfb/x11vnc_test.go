package rfb_test

import (
	"context"
	"image"
	"image/color"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/vncserver"
	"github.com/kvmrelay/kvmrelay/rfb"
)

// dial connects an rfb.Client to addr; the connection closes when the test ends.
func dial(t *testing.T, addr string, cfg rfb.Config) (*rfb.Client, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(15*time.Second)))
	return rfb.NewClient(nc, cfg)
}

// readUntil reads messages until done says the framebuffer is as expected.
func readUntil(t *testing.T, c *rfb.Client, done func(fb *image.RGBA) bool) {
	t.Helper()
	for {
		ev, err := c.ReadMessageFunc(func() { _ = c.RequestFull(true) })
		require.NoError(t, err)
		if ev.Kind == rfb.EventUpdate && done(c.Framebuffer()) {
			return
		}
	}
}

func rgb(v uint32) color.RGBA {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xFF}
}

func probeShown(p *vncserver.Probe) func(fb *image.RGBA) bool {
	return func(fb *image.RGBA) bool {
		return fb.RGBAAt(p.X+vncserver.Square/2, p.Y+vncserver.Square/2) == rgb(vncserver.ProbeGreen) &&
			fb.RGBAAt(p.X+vncserver.Square*3/2, p.Y+vncserver.Square/2) == rgb(vncserver.ProbeBlue) &&
			fb.RGBAAt(p.X+p.W-10, p.Y+p.H-10) == rgb(vncserver.ProbeRed)
	}
}

// TestX11VNC reads the probe window's colours through every encoding and pixel format from
// a real x11vnc; all decodings of the same screen must agree pixel for pixel.
func TestX11VNC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := vncserver.Xvfb(t, 1024, 768)
	p := vncserver.StartProbe(ctx, t, d, 100, 80, false)
	addr := vncserver.X11VNC(t, d, "")

	rgb565, rgb332 := rfb.PixelFormatRGB565(), rfb.PixelFormatRGB332()
	bigEndian := rfb.PixelFormat32()
	bigEndian.BigEndian, bigEndian.RedShift, bigEndian.BlueShift = true, 16, 0
	tests := []struct {
		name string
		cfg  rfb.Config
	}{
		{"default", rfb.Config{}},
		{"raw", rfb.Config{Decoders: []rfb.Decoder{rfb.Raw{}}}},
		{"hextile", rfb.Config{Decoders: []rfb.Decoder{rfb.Hextile{}, rfb.Raw{}}}},
		{"zrle", rfb.Config{Decoders: []rfb.Decoder{&rfb.ZRLE{}, rfb.Raw{}}}},
		{"zrle 32 bpp big-endian", rfb.Config{PixelFormat: &bigEndian, Decoders: []rfb.Decoder{&rfb.ZRLE{}, rfb.Raw{}}}},
		{"zrle rgb565", rfb.Config{PixelFormat: &rgb565, Decoders: []rfb.Decoder{&rfb.ZRLE{}, rfb.Raw{}}}},
		{"hextile rgb565", rfb.Config{PixelFormat: &rgb565, Decoders: []rfb.Decoder{rfb.Hextile{}, rfb.Raw{}}}},
		{"raw rgb332", rfb.Config{PixelFormat: &rgb332, Decoders: []rfb.Decoder{rfb.Raw{}}}},
	}
	var reference *image.RGBA
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dial(t, addr, tt.cfg)
			require.NoError(t, err)
			assert.Equal(t, rfb.Version{Major: 3, Minor: 8}, c.Version())
			w, h := c.Size()
			require.Equal(t, [2]int{1024, 768}, [2]int{w, h})
			require.NoError(t, c.RequestFull(false))
			readUntil(t, c, probeShown(p))
			if tt.cfg.PixelFormat != nil && tt.cfg.PixelFormat.BitsPerPixel < 32 {
				return // quantized: the probe's pure colours survive, the rest need not
			}
			if reference == nil {
				reference = image.NewRGBA(c.Framebuffer().Rect)
				copy(reference.Pix, c.Framebuffer().Pix)
				return
			}
			assert.Equal(t, reference.Pix, c.Framebuffer().Pix, "same screen, different pixels")
		})
	}
}

func TestX11VNCPassword(t *testing.T) {
	d := vncserver.Xvfb(t, 640, 480)
	addr := vncserver.X11VNC(t, d, "s3cret")
	tests := []struct {
		name, password string
		want           error
	}{
		{"right", "s3cret", nil},
		{"wrong", "wrong", rfb.ErrAuthFailed},
		{"none", "", rfb.ErrPasswordRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dial(t, addr, rfb.Config{Password: tt.password})
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			w, h := c.Size()
			assert.Equal(t, [2]int{640, 480}, [2]int{w, h})
			require.NoError(t, c.RequestFull(false))
			ev, err := c.ReadMessage()
			require.NoError(t, err)
			assert.Equal(t, rfb.EventUpdate, ev.Kind)
		})
	}
}
