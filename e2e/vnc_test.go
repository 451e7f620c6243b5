package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/internal/vncserver"
)

// clickAt presses and releases the left button at viewport coordinates.
func clickAt(ctx context.Context, x, y float64) error {
	for _, p := range []input.DispatchMouseEventParams{
		{Type: input.DispatchMouseEventTypeMouseMoved, X: x, Y: y},
		{Type: input.DispatchMouseEventTypeMousePressed, X: x, Y: y, Button: input.MouseButtonLeft, Buttons: 1, ClickCount: 1},
		{Type: input.DispatchMouseEventTypeMouseReleased, X: x, Y: y, Button: input.MouseButtonLeft, ClickCount: 1},
	} {
		if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, p); err != nil {
			return err
		}
	}
	return nil
}

// shift is DevTools' modifier bit for Shift.
const shift = 8

// keyEvent sends one key event with modifiers (a DevTools bit mask).
func keyEvent(ctx context.Context, typ input.DispatchKeyEventType, k key, modifiers int64) error {
	p := input.DispatchKeyEventParams{Type: typ, Code: k.code, Key: k.key, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk, Modifiers: modifiers}
	if typ == input.DispatchKeyEventTypeKeyDown && len(k.key) == 1 {
		p.Text = k.key
	}
	_, err := chromedp.Call(ctx, input.DispatchKeyEvent, p)
	return err
}

// TestVNCConsoleInChromium: a real X desktop (Xvfb) served by a real VNC server (x11vnc),
// reached through kvmagent's VNC source and the relay, driven from Chromium: the picture has
// the desktop's size and colours, a click lands on the remote pixel under the pointer, typed
// keys reach an X application, and "input → first change" measures the VNC path.
func TestVNCConsoleInChromium(t *testing.T) {
	display := vncserver.Xvfb(t, 1024, 768)
	addr := vncserver.X11VNC(t, display, "")
	pctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	probe := vncserver.StartProbe(pctx, t, display, 100, 120, false)

	s := newStack(t, stackOptions{source: catalogSource(t, "vnc://"+addr)})
	ctx := testenv.Chromium(t)
	openConsole(t, ctx, s.link(t))
	waitJS(t, ctx, `document.querySelector("video").videoWidth === 1024 && document.querySelector("video").videoHeight === 768`, 10*time.Second, "the desktop's size")

	// The probe's green square, 100 px at the window's top-left, is green in the page.
	waitJS(t, ctx, `(() => { const v = document.querySelector("video"); const c = document.createElement("canvas");
		c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext("2d"); g.drawImage(v, 0, 0);
		const p = g.getImageData(150, 170, 1, 1).data; return p[1] > 180 && p[0] < 80 && p[2] < 80; })()`,
		10*time.Second, "the probe window's green square in the picture")

	// A click on the remote pixel (160, 175) — inside the green square — lands there.
	// A click on the remote pixel (160, 175) — inside the green square — lands there, and
	// typed keys reach the X application.
	clickRemotePixel(t, ctx, pctx, probe, 160, 175)
	typeHiEscape(t, ctx, pctx, probe)

	// A German target: the person picks its layout in the key menu, and the key a German
	// keyboard labels Y (USB KeyZ) types y; AltGr+Q types @.
	mustJS[bool](t, ctx, `(() => { const s = document.getElementById("layout-select");
		s.value = "de-DE"; s.dispatchEvent(new Event("change")); return true; })()`)
	require.NoError(t, press(ctx, key{"KeyZ", "z", 90}))
	altGr, q := key{"AltRight", "AltGraph", 18}, key{"KeyQ", "@", 81}
	require.NoError(t, keyEvent(ctx, input.DispatchKeyEventTypeKeyDown, altGr, 0))
	require.NoError(t, keyEvent(ctx, input.DispatchKeyEventTypeKeyDown, q, 0))
	require.NoError(t, keyEvent(ctx, input.DispatchKeyEventTypeKeyUp, q, 0))
	require.NoError(t, keyEvent(ctx, input.DispatchKeyEventTypeKeyUp, altGr, 0))
	probe.Wait(pctx, t, "the German keys", func(s string) bool { return s == "key at" })
	var keys []string
	for _, s := range probe.All() {
		if k, ok := strings.CutPrefix(s, "key "); ok && (k == "y" || k == "z" || k == "at" || k == "q") {
			keys = append(keys, k)
		}
	}
	assert.Equal(t, []string{"y", "at"}, keys, "the X application saw: %q", probe.All())
	assert.Equal(t, "de-DE", mustJS[string](t, ctx, `localStorage.getItem("kvmrelay.layout.dev1")`), "remembered for the device")

	// Input → first change: the typed keys were answered by frames of the VNC path.
	waitJS(t, ctx, `window.kvm.firstChangeSamples.length > 0`, 10*time.Second, "an input → first change sample")
	t.Logf("input → first change through x11vnc: %v ms", mustJS[[]float64](t, ctx, `window.kvm.firstChangeSamples`))
	shot(t, ctx, "vnc")
}
