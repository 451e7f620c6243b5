package amtrfb_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/amtsim/amtrfb"
	"github.com/kvmrelay/kvmrelay/internal/vncserver"
	"github.com/kvmrelay/kvmrelay/rfb"
)

func rgb(v uint32) color.RGBA {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xFF}
}

// vncScreen reads x11vnc on a fresh Xvfb with the probe window shown; Run stops with the test.
func vncScreen(t *testing.T) (*amtrfb.VNCScreen, *vncserver.Probe, *vncserver.Display) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := vncserver.Xvfb(t, 1024, 768)
	p := vncserver.StartProbe(ctx, t, d, 100, 80, false)
	addr := vncserver.X11VNC(t, d, "")
	screen, err := amtrfb.DialVNC(ctx, addr, "")
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := screen.Run(runCtx); err != nil {
			t.Errorf("VNCScreen.Run: %v", err)
		}
	}()
	t.Cleanup(func() { stop(); wg.Wait() })
	return screen, p, d
}

// probeAt reports whether the probe's three colours show in fb, within pf's precision.
func probeAt(pf rfb.PixelFormat, p *vncserver.Probe, fb *image.RGBA) bool {
	for _, c := range []struct {
		pt  image.Point
		rgb uint32
	}{
		{image.Pt(p.X+vncserver.Square/2, p.Y+vncserver.Square/2), vncserver.ProbeGreen},
		{image.Pt(p.X+vncserver.Square*3/2, p.Y+vncserver.Square/2), vncserver.ProbeBlue},
		{image.Pt(p.X+p.W-10, p.Y+p.H-10), vncserver.ProbeRed},
	} {
		if !within(pf, rgb(c.rgb), fb.RGBAAt(c.pt.X, c.pt.Y)) {
			return false
		}
	}
	return true
}

// TestX11VNC: the bridge's client ↔ Serve ↔ VNCScreen ↔ x11vnc on Xvfb. The probe window's
// colours arrive within each format's precision, the served picture matches x11vnc's over
// the whole window, and a click and a key reach the X application.
func TestX11VNC(t *testing.T) {
	screen, p, d := vncScreen(t)
	tests := []struct {
		name string
		pf   rfb.PixelFormat
		srv  amtrfb.Config
	}{
		{"565 zlib", rfb.PixelFormatRGB565(), amtrfb.Config{}},
		{"565 stored", rfb.PixelFormatRGB565(), amtrfb.Config{ZlibOff: true}},
		{"332", rfb.PixelFormatRGB332(), amtrfb.Config{}},
		{"gray 8", rfb.PixelFormatGray8(), amtrfb.Config{ZlibOff: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, _ := session(t, screen, tt.srv)
			c, err := rfb.NewClient(conn, rfb.AMTConfig(tt.pf))
			require.NoError(t, err)
			w, h := c.Size()
			require.Equal(t, [2]int{1024, 768}, [2]int{w, h})
			require.NoError(t, c.RequestFull(false))
			for {
				ev, err := c.ReadMessageFunc(func() { _ = c.RequestFull(true) })
				require.NoError(t, err)
				if ev.Kind == rfb.EventUpdate && probeAt(tt.pf, p, c.Framebuffer()) {
					break
				}
			}
			// Over the probe window, what the client drew is x11vnc's picture.
			ref := screen.Snapshot(nil)
			fb := c.Framebuffer()
			win := image.Rect(p.X, p.Y, p.X+p.W, p.Y+p.H)
			bad := 0
			for y := win.Min.Y; y < win.Max.Y; y++ {
				for x := win.Min.X; x < win.Max.X; x++ {
					if !within(tt.pf, ref.RGBAAt(x, y), fb.RGBAAt(x, y)) {
						bad++
					}
				}
			}
			assert.Zero(t, bad, "pixels of the probe window unlike x11vnc's")
		})
	}
	t.Run("input", func(t *testing.T) {
		conn, _ := session(t, screen, amtrfb.Config{})
		c, err := rfb.NewClient(conn, rfb.AMTConfig(rfb.PixelFormatRGB565()))
		require.NoError(t, err)
		// Keep reading so the server never blocks on a full connection.
		readErr := make(chan error, 1)
		go func() {
			for {
				if _, err := c.ReadMessage(); err != nil {
					readErr <- err
					return
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		x, y := p.X+vncserver.Square/2, p.Y+vncserver.Square/2
		require.NoError(t, c.PointerEvent(0, x, y))
		require.NoError(t, c.PointerEvent(1, x, y))
		require.NoError(t, c.PointerEvent(0, x, y))
		want := fmt.Sprintf("press 1 %d %d", x, y)
		p.Wait(ctx, t, want, func(s string) bool { return s == want })
		require.NoError(t, c.KeyEvent('q', true))
		require.NoError(t, c.KeyEvent('q', false))
		p.Wait(ctx, t, "key q", func(s string) bool { return s == "key q" })
		_ = conn.Close()
		<-readErr
	})
	// x11vnc scaled to half: a real resize through VNCScreen; the client gets DesktopSize
	// and follows.
	t.Run("resize", func(t *testing.T) {
		conn, _ := session(t, screen, amtrfb.Config{})
		pf := rfb.PixelFormatRGB565()
		c, err := rfb.NewClient(conn, rfb.AMTConfig(pf))
		require.NoError(t, err)
		require.NoError(t, c.RequestFull(false))
		vncserver.X11VNCRemote(t, d, "scale:1/2")
		for {
			ev, err := c.ReadMessageFunc(func() { _ = c.RequestFull(true) })
			require.NoError(t, err)
			if ev.Resized {
				require.NoError(t, c.RequestFull(false))
			}
			if w, h := c.Size(); w == 512 && h == 384 && ev.Kind == rfb.EventUpdate && !ev.Resized {
				// The green square's corner, halved (its centre has the pointer since "input").
				g := c.Framebuffer().RGBAAt((p.X+10)/2, (p.Y+10)/2)
				if within(pf, rgb(vncserver.ProbeGreen), g) {
					return
				}
			}
		}
	})
}
