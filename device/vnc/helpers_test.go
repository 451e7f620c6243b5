package vnc_test

import (
	"context"
	"image"
	"image/color"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/vnc"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/rfb"
)

func source(t *testing.T, spec string, secrets map[string]string) device.Source {
	t.Helper()
	u, err := url.Parse(spec)
	require.NoError(t, err)
	src, err := vnc.NewSource(u, device.Options{Lookup: func(name string) (string, bool) {
		v, ok := secrets[name]
		return v, ok
	}})
	require.NoError(t, err)
	return src
}

// open connects to spec; the connection closes when the test ends.
func open(ctx context.Context, t *testing.T, spec string) device.Conn {
	t.Helper()
	conn, err := source(t, spec, nil).Open(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Video.Close() })
	return conn
}

// nextUntil pulls frames until ok accepts one.
func nextUntil(ctx context.Context, t *testing.T, v media.Source, what string, ok func(img *image.YCbCr) bool) media.Frame {
	t.Helper()
	for {
		f, err := v.Next(ctx)
		require.NoError(t, err, "waiting for %s", what)
		require.NotNil(t, f.Image)
		if ok(f.Image) {
			return f
		}
	}
}

// colourAt reports whether the pixel at (x, y) is rgb (0xRRGGBB), within rounding.
func colourAt(img *image.YCbCr, x, y int, rgb uint32) bool {
	if !image.Pt(x, y).In(img.Rect) {
		return false
	}
	want := color.YCbCrModel.Convert(color.RGBA{R: uint8(rgb >> 16), G: uint8(rgb >> 8), B: uint8(rgb), A: 255}).(color.YCbCr)
	got := img.YCbCrAt(x, y)
	near := func(a, b uint8) bool { return int(a)-int(b) <= 2 && int(b)-int(a) <= 2 }
	return near(got.Y, want.Y) && near(got.Cb, want.Cb) && near(got.Cr, want.Cr)
}

// absolute is the hid coordinate of pixel p on a w×h screen, the inverse of the sink's
// mapping.
func absolute(p, size int) int { return (p*hid.AbsMax + (size-1)/2) / (size - 1) }

// cursorSource is what the VNC video offers besides media.Source.
type cursorSource interface {
	Cursor() (rfb.Cursor, image.Point, bool)
}

// stats is the VNC video's counters.
type stats interface {
	Updates() uint64
	BytesRead() int64
}
