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

	// The cursor shape x11vnc sends (Tk's crosshair over the probe) is drawn where the
	// pointer is: the blue square under it is no longer plain blue there.
	nextUntil(ctx, t, conn.Video, "the cursor drawn at the pointer", func(img *image.YCbCr) bool {
		shape, at, known := conn.Video.(cursorSource).Cursor()
		if shape.Image == nil || !known || at != target {
			return false
		}
		box := image.Rectangle{Min: target.Sub(shape.Hotspot), Max: target.Sub(shape.Hotspot).Add(shape.Image.Rect.Size())}
		for y := box.Min.Y; y < box.Max.Y; y++ {
			for x := box.Min.X; x < box.Max.X; x++ {
				if shape.Image.RGBAAt(x-box.Min.X, y-box.Min.Y).A != 0 && !colourAt(img, x, y, vncserver.ProbeBlue) {
					return true
				}
			}
		}
		return false
	})

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
		{hid.UsageLeftShift, true}, {hid.UsageA + 7, true}, {hid.UsageA + 7, false}, {hid.UsageLeftShift, false},
		{hid.UsageA + 8, true}, {hid.UsageA + 8, false},
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

// TestX11VNCResize: x11vnc scales its framebuffer to half the screen (DesktopSize), frames of
// the new size follow, and the pointer maps onto the new size.
func TestX11VNCResize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := vncserver.Xvfb(t, 1024, 768)
	p := vncserver.StartProbe(ctx, t, d, 100, 80, false)
	addr := vncserver.X11VNC(t, d, "")
	conn := open(ctx, t, "vnc://"+addr)
	nextUntil(ctx, t, conn.Video, "the probe window", probeShown(p))

	vncserver.X11VNCRemote(t, d, "scale:1/2")
	half := &vncserver.Probe{X: p.X / 2, Y: p.Y / 2, W: p.W / 2, H: p.H / 2}
	f := nextUntil(ctx, t, conn.Video, "a 512x384 frame of the probe", func(img *image.YCbCr) bool {
		return img.Rect.Dx() == 512 && img.Rect.Dy() == 384 &&
			colourAt(img, half.X+vncserver.Square/4, half.Y+vncserver.Square/4, vncserver.ProbeGreen) &&
			colourAt(img, half.X+vncserver.Square*3/4, half.Y+vncserver.Square/4, vncserver.ProbeBlue) &&
			colourAt(img, half.X+half.W-5, half.Y+half.H-5, vncserver.ProbeRed)
	})
	assert.Equal(t, image.Rect(0, 0, 512, 384), f.Image.Rect)

	// A click at the middle of the scaled blue square lands at its middle on the real screen.
	target := image.Pt(half.X+vncserver.Square*3/4, half.Y+vncserver.Square/4)
	ev := hid.PointerEvent{Absolute: true, X: absolute(target.X, 512), Y: absolute(target.Y, 384), Buttons: hid.ButtonLeft}
	require.NoError(t, conn.Input.Pointer(ev))
	ev.Buttons = 0
	require.NoError(t, conn.Input.Pointer(ev))
	line := p.Wait(ctx, t, "a click", func(s string) bool { return strings.HasPrefix(s, "press 1 ") })
	var x, y int
	_, err := fmt.Sscanf(line, "press 1 %d %d", &x, &y)
	require.NoError(t, err)
	assert.InDelta(t, 2*target.X, x, 2, "x on the real screen")
	assert.InDelta(t, 2*target.Y, y, 2, "y on the real screen")
}

// TestX11VNCPassword: the password from the spec or from KVMAGENT_VNC_PASSWORD opens the
// connection; a wrong or missing one is one line that says how to set it.
func TestX11VNCPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := vncserver.Xvfb(t, 640, 480)
	addr := vncserver.X11VNC(t, d, "s3cret")
	tests := []struct {
		name    string
		spec    string
		secrets map[string]string
		err     string
	}{
		{"in the spec", "vnc://:s3cret@" + addr, nil, ""},
		{"from the secret", "vnc://" + addr, map[string]string{"KVMAGENT_VNC_PASSWORD": "s3cret"}, ""},
		{"spec wins", "vnc://:s3cret@" + addr, map[string]string{"KVMAGENT_VNC_PASSWORD": "other"}, ""},
		{"wrong", "vnc://:nope@" + addr, nil,
			"vnc://" + addr + ": the VNC server refused the password; set it with vnc://:PASSWORD@" + addr + " or KVMAGENT_VNC_PASSWORD"},
		{"missing", "vnc://" + addr, nil,
			"vnc://" + addr + ": the VNC server requires a password; set it with vnc://:PASSWORD@" + addr + " or KVMAGENT_VNC_PASSWORD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := source(t, tt.spec, tt.secrets)
			assert.Equal(t, "vnc://"+addr, src.String(), "no password in the name")
			conn, err := src.Open(ctx)
			if tt.err != "" {
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), tt.err), "error %q", err)
				assert.NotContains(t, err.Error(), "nope")
				assert.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			defer conn.Video.Close()
			f, err := conn.Video.Next(ctx)
			require.NoError(t, err)
			assert.Equal(t, image.Rect(0, 0, 640, 480), f.Image.Rect)
		})
	}
}

// TestX11VNCIdle: with the screen changing all the time, updates stop once nobody pulled a
// frame for a while, and start again with the next Next.
func TestX11VNCIdle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := vncserver.Xvfb(t, 800, 600)
	p := vncserver.StartProbe(ctx, t, d, 0, 0, true)
	addr := vncserver.X11VNC(t, d, "")
	conn := open(ctx, t, "vnc://"+addr)
	nextUntil(ctx, t, conn.Video, "the probe window", probeShown(p))
	st := conn.Video.(stats)

	// Pull frames for a while: the blinking square keeps updates coming.
	start := st.Updates()
	for st.Updates() < start+5 {
		_, err := conn.Video.Next(ctx)
		require.NoError(t, err)
	}
	// Stop pulling: after the idle time at most the update already asked for arrives.
	time.Sleep(1500 * time.Millisecond)
	idle := st.Updates()
	time.Sleep(1500 * time.Millisecond)
	assert.LessOrEqual(t, st.Updates(), idle+1, "updates kept coming while nobody pulled frames")
	bytes := st.BytesRead()
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, bytes, st.BytesRead(), "the server kept sending to an idle connection")

	// Pull again: updates resume.
	resumed := st.Updates()
	for st.Updates() < resumed+3 {
		_, err := conn.Video.Next(ctx)
		require.NoError(t, err)
	}
}

// TestX11VNCDone: when the server goes away, Done closes without anyone pulling frames, and
// Next reports the lost connection.
func TestX11VNCDone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := vncserver.Xvfb(t, 640, 480)
	addr := vncserver.X11VNC(t, d, "")
	conn := open(ctx, t, "vnc://"+addr)
	_, err := conn.Video.Next(ctx)
	require.NoError(t, err)

	vncserver.X11VNCRemote(t, d, "stop")
	select {
	case <-conn.Video.(device.Watched).Done():
	case <-ctx.Done():
		t.Fatal("Done did not close when the server stopped")
	}
	for {
		_, err = conn.Video.Next(ctx)
		if err != nil {
			break
		}
	}
	assert.ErrorContains(t, err, "connection lost")
	assert.ErrorContains(t, conn.Input.Key(hid.UsageEscape, true), "connection lost", "input after the end fails")
}
