package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// TestBrowserConsole is the product's core promise in real Chromium: open the link, see the
// remote screen, type on it and see the keys arrive, move the mouse and see it arrive — once
// over whatever path ICE picks, once forced through the embedded TURN server.
func TestBrowserConsole(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fragment string
		path     string // "direct" or "relay" in the stats overlay's path
	}{
		{"direct", "", "direct"},
		{"forced relay through embedded TURN", "&relay=1", "relay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{width: 1280, height: 720, fps: 30})
			ctx := testenv.Chromium(t)
			openConsole(t, ctx, s.link(t)+tc.fragment)

			path, err := js[string](ctx, `(window.kvm.stats && window.kvm.stats.path) || ""`)
			require.NoError(t, err)
			if tc.path == "relay" {
				assert.Contains(t, path, "relay", "forced relay must use a TURN candidate")
			} else {
				assert.NotContains(t, path, "relay")
			}
			w, err := js[int](ctx, `document.querySelector("video").videoWidth`)
			require.NoError(t, err)
			assert.Equal(t, 1280, w, "the decoded picture has the source's size")

			// Keys typed in the page reach the agent's device, and the decoded picture shows the
			// new count in the latency strip.
			before := s.device.KeyDownCount()
			for i := 0; i < 3; i++ {
				require.NoError(t, press(ctx, letterA))
			}
			require.Eventually(t, func() bool { return s.device.KeyDownCount() == before+3 }, 5*time.Second, 10*time.Millisecond,
				"the device never saw the 3 key-downs")
			waitJS(t, ctx, fmt.Sprintf("window.kvm.stripCount === %d", before+3), 5*time.Second, "the strip to show the typed keys")

			// The pointer lands where it points: the centre of the video is the centre of the screen.
			rect, err := js[[]float64](ctx, `(() => { const r = document.querySelector("video").getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
			require.NoError(t, err)
			cx, cy := rect[0]+rect[2]/2, rect[1]+rect[3]/2
			require.NoError(t, mouseMove(ctx, cx-40, cy-40))
			require.NoError(t, mouseMove(ctx, cx, cy))
			require.Eventually(t, func() bool {
				x, y, ok := s.device.PointerPosition()
				return ok && abs(x-1280/2) <= 8 && abs(y-720/2) <= 8
			}, 5*time.Second, 10*time.Millisecond, "the pointer never reached the centre of the remote screen")
			shot(t, ctx, "connected")
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestBrowserConsoleTURNOverTLS: a console behind a firewall that passes only TLS — the relay
// hands out nothing but its turns: URL and the page forces relaying — still gets the screen and
// the keyboard, through TURN over TLS.
func TestBrowserConsoleTURNOverTLS(t *testing.T) {
	s := newStack(t, stackOptions{width: 1280, height: 720, fps: 30, turnTLSOnly: true})
	// The test certificate is self-signed; a deployment uses a real one for --turn-tls-name.
	ctx := testenv.Chromium(t, chromedp.Flag("ignore-certificate-errors", true))
	openConsole(t, ctx, s.link(t)+"&relay=1")
	waitJS(t, ctx, `window.kvm.stats && window.kvm.stats.path`, 5*time.Second, "stats")
	path, err := js[string](ctx, `window.kvm.stats.path`)
	require.NoError(t, err)
	assert.Contains(t, path, "tls", "the relayed path runs over TLS")
	before := s.device.KeyDownCount()
	require.NoError(t, press(ctx, letterA))
	require.Eventually(t, func() bool { return s.device.KeyDownCount() == before+1 }, 5*time.Second, 10*time.Millisecond)
	waitJS(t, ctx, fmt.Sprintf("window.kvm.stripCount === %d", before+1), 5*time.Second, "the strip to show the key")
}
