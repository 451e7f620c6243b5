package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/vncserver"
)

// clickRemotePixel clicks the console's video where the remote pixel (rx, ry) shows and
// checks that the probe window saw the press there (within 2 pixels).
func clickRemotePixel(t *testing.T, ctx, pctx context.Context, probe *vncserver.Probe, rx, ry int) {
	t.Helper()
	rect := mustJS[[]float64](t, ctx, `(() => { const v = document.querySelector("video"); const r = v.getBoundingClientRect();
		const s = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
		return [r.left + (r.width - v.videoWidth * s) / 2, r.top + (r.height - v.videoHeight * s) / 2, s]; })()`)
	require.NoError(t, clickAt(ctx, rect[0]+(float64(rx)+0.5)*rect[2], rect[1]+(float64(ry)+0.5)*rect[2]))
	line := probe.Wait(pctx, t, "the click", func(s string) bool { return strings.HasPrefix(s, "press 1 ") })
	f := strings.Fields(line)
	x, _ := strconv.Atoi(f[2])
	y, _ := strconv.Atoi(f[3])
	assert.InDelta(t, rx, x, 2, "the click's remote x (%s)", line)
	assert.InDelta(t, ry, y, 2, "the click's remote y (%s)", line)
}

// typeHiEscape types Shift+H, i and Escape as a person does and checks that the probe window
// saw exactly H, i, Escape.
func typeHiEscape(t *testing.T, ctx, pctx context.Context, probe *vncserver.Probe) {
	t.Helper()
	shiftKey, h := key{"ShiftLeft", "Shift", 16}, key{"KeyH", "H", 72}
	require.NoError(t, keyEvent(ctx, input.DispatchKeyEventTypeKeyDown, shiftKey, shift))
	require.NoError(t, keyEvent(ctx, input.DispatchKeyEventTypeKeyDown, h, shift))
	require.NoError(t, keyEvent(ctx, input.DispatchKeyEventTypeKeyUp, h, shift))
	require.NoError(t, keyEvent(ctx, input.DispatchKeyEventTypeKeyUp, shiftKey, 0))
	require.NoError(t, press(ctx, key{"KeyI", "i", 73}))
	esc := key{"Escape", "Escape", 27}
	require.NoError(t, keyEvent(ctx, input.DispatchKeyEventTypeKeyDown, esc, 0))
	require.NoError(t, keyEvent(ctx, input.DispatchKeyEventTypeKeyUp, esc, 0))
	probe.Wait(pctx, t, "the typed keys", func(s string) bool { return s == "key Escape" })
	var keys []string
	for _, s := range probe.All() {
		if k, ok := strings.CutPrefix(s, "key "); ok && !strings.HasPrefix(k, "Shift") {
			keys = append(keys, k)
		}
	}
	assert.Equal(t, []string{"H", "i", "Escape"}, keys, "the X application saw: %q", probe.All())
}
