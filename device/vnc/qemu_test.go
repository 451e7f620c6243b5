package vnc_test

import (
	"context"
	"image"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/vncserver"
)

// TestQEMUSeaBIOS watches a diskless QEMU machine boot through QEMU's own VNC server: the
// placeholder screen of a machine not started yet, SeaBIOS's 720x400 text mode, its
// 640x400 boot splash (a VESA mode; larger JPEGs take SeaBIOS seconds to decode under TCG), and Escape pressed during the splash reaching the BIOS (SeaBIOS logs
// its boot menu on the debug port) and bringing back text mode. Every size change reaches
// the frames.
func TestQEMUSeaBIOS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	q := vncserver.StartQEMU(t, vncserver.QEMUConfig{
		Paused: true, SplashWidth: 640, SplashHeight: 400, SplashTime: 8 * time.Second,
	})
	conn := open(ctx, t, "vnc://"+q.Addr)
	first, err := conn.Video.Next(ctx)
	require.NoError(t, err)
	sizes := []image.Point{first.Image.Rect.Size()}
	defer func() { t.Logf("frame sizes seen: %v", sizes) }()
	q.Continue(t)

	seen := func(w, h int) func(img *image.YCbCr) bool {
		return func(img *image.YCbCr) bool {
			if s := img.Rect.Size(); s != sizes[len(sizes)-1] {
				sizes = append(sizes, s)
			}
			return img.Rect.Size() == image.Pt(w, h)
		}
	}
	// SeaBIOS's text mode before the splash may last less than QEMU's display refresh, which
	// backs off while the machine was paused: it need not show up before the splash.
	nextUntil(ctx, t, conn.Video, "the splash", func(img *image.YCbCr) bool {
		// The splash's light band, not just its mode.
		return seen(640, 400)(img) && colourAt(img, 320, 200, 0xE0E0E0)
	})
	q.WaitDebug(ctx, t, "Press ESC for boot menu")
	require.NoError(t, conn.Input.Key(hid.UsageEscape, true))
	require.NoError(t, conn.Input.Key(hid.UsageEscape, false))
	q.WaitDebug(ctx, t, "Select boot device")
	nextUntil(ctx, t, conn.Video, "text mode for the boot menu", seen(720, 400))
	assert.Equal(t, image.Pt(640, 480), sizes[0], "QEMU's placeholder before the machine runs")
	assert.Equal(t, []image.Point{{640, 400}, {720, 400}}, sizes[len(sizes)-2:], "the splash, then text mode")
}
