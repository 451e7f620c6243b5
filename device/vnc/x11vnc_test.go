package vnc_test

import (
	"context"
	"fmt"
	"image"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/vncserver"
	"github.com/kvmrelay/kvmrelay/media"
)

func probeShown(p *vncserver.Probe) func(img *image.YCbCr) bool {
	return func(img *image.YCbCr) bool {
		return colourAt(img, p.X+vncserver.Square/2, p.Y+vncserver.Square/2, vncserver.ProbeGreen) &&
			colourAt(img, p.X+vncserver.Square*3/2, p.Y+vncserver.Square/2, vncserver.ProbeBlue) &&
			colourAt(img, p.X+p.W-10, p.Y+p.H-10, vncserver.ProbeRed)
	}
}

// TestX11VNCFrames: the probe window's colours arrive in I420 frames of the screen's size;
// the connection reports its size before any frame and answers Refresh with a frame.
func TestX11VNCFrames(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := vncserver.Xvfb(t, 1024, 768)
	p := vncserver.StartProbe(ctx, t, d, 100, 80, false)
	addr := vncserver.X11VNC(t, d, "")
	conn := open(ctx, t, "vnc://"+addr)

	sized, ok := conn.Video.(device.Sized)
	require.True(t, ok, "VNC video must be device.Sized")
	w, h := sized.Size()
	assert.Equal(t, [2]int{1024, 768}, [2]int{w, h})
	require.Implements(t, (*device.Watched)(nil), conn.Video)
	require.Implements(t, (*media.Refresher)(nil), conn.Video)

	f := nextUntil(ctx, t, conn.Video, "the probe window", probeShown(p))
	assert.Equal(t, image.Rect(0, 0, 1024, 768), f.Image.Rect)
	assert.False(t, f.CaptureTime.IsZero())
	assert.True(t, colourAt(f.Image, 900, 700, 0x000000), "the root window stays black")

	// Refresh on a still screen: a full update arrives and is handed out as a frame.
	before := conn.Video.(stats).Updates()
	conn.Video.(media.Refresher).Refresh()
	for conn.Video.(stats).Updates() == before {
		_, err := conn.Video.Next(ctx)
		require.NoError(t, err)
	}
}

// TestX11VNCInput: a click lands on the remote pixel it was aimed at, typed keys reach an X
// application as the keysyms a US keyboard makes, and the wheel turns into buttons 4 and 5.
func TestX11VNCInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := vncserver.Xvfb(t, 1024, 768)
	p := vncserver.StartProbe(ctx, t, d, 100, 80, false)
	addr := vncserver.X11VNC(t, d, "")
	conn := open(ctx, t, "vnc://"+addr)
	nextUntil(ctx, t, conn.Video, "the probe window", probeShown(p))
	in := conn.Input

	target := image.Pt(p.X+vncserver.Square*3/2+7, p.Y+vncserver.Square/2+3) // on the blue square
	ev := hid.PointerEvent{Absolute: true, X: absolute(target.X, 1024), Y: absolute(target.Y, 768)}
	require.NoError(t, in.Pointer(ev))
	ev.Buttons = hid.ButtonLeft
	require.NoError(t, in.Pointer(ev))
	ev.Buttons = 0
	require.NoError(t, in.Pointer(ev))
	want := fmt.Sprintf("press 1 %d %d", target.X, target.Y)
	p.Wait(ctx, t, want, func(s string) bool { return strings.HasPrefix(s, "press 1 ") })
	assert.Contains(t, p.All(), want)

	ev.WheelY = 1
	require.NoError(t, in.Pointer(ev))
	p.Wait(ctx, t, "wheel down as button 5", func(s string) bool { return strings.HasPrefix(s, "press 5 ") })
	ev.WheelY = 0
	ev.Buttons = hid.ButtonRight
	require.NoError(t, in.Pointer(ev))
	ev.Buttons = 0
	require.NoError(t, in.Pointer(ev))
	p.Wait(ctx, t, "right button as button 3", func(s string) bool { return strings.HasPrefix(s, "press 3 ") })

	// "Hi!" and Escape, with Shift released while "1" is still down: its release must
	// still be for "exclam".
	keys := []struct {
		u    hid.Usage
		down bool
	}{
		{hid.UsageLeftShift, true}, {hid.UsageA+7, true}, {hid.UsageA+7, false}, {hid.UsageLeftShift, false},
		{hid.UsageA+8, true}, {hid.UsageA+8, false},
		{hid.UsageRightShift, true}, {hid.Usage1, true}, {hid.UsageRightShift, false}, {hid.Usage1, false},
		{hid.UsageEscape, true}, {hid.UsageEscape, false},
	}
	for _, k := range keys {
		require.NoError(t, in.Key(k.u, k.down))
	}
	p.Wait(ctx, t, "Escape", func(s string) bool { return s == "key Escape" })
	var typed []string
	for _, s := range p.All() {
		if k, ok := strings.CutPrefix(s, "key "); ok {
			typed = append(typed, k)
		}
	}
	assert.Equal(t, []string{"Shift_L", "H", "i", "Shift_R", "exclam", "Escape"}, typed)
}
