package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/amtsim/firmware"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/internal/vncserver"
)

// TestBenchVNCLatency measures key-down → first displayed frame showing the key, in Chromium,
// through a real VNC server: a Tk window under Xvfb draws the same latency strip as the test
// pattern, seen through x11vnc → the agent's VNC source → the relay → the browser. In the same
// run it measures the test pattern at the same size, so the gap is the VNC path's own cost;
// x11vnc is measured with its defaults and with its polling shortened (-wait 5 -defer 5), which
// shows how much of the gap is x11vnc waiting before it looks at the screen. The Intel AMT path
// is measured through the simulator (x11vnc → simulated firmware → CIRA → fake MPS → the
// agent's amt+mps source) at 1280×1024 in 16 bpp and 1920×1080 in 8 bpp.
func TestBenchVNCLatency(t *testing.T) {
	benchEnabled(t, "vnc")
	samples := 100
	if n, err := strconv.Atoi(os.Getenv("KVMRELAY_BENCH_SAMPLES")); err == nil && n > 0 {
		samples = n
	}
	const w, h = 1280, 720
	measure := func(t *testing.T, name string, w, h int, o stackOptions) {
		s := newStack(t, o)
		ctx := testenv.Chromium(t)
		openConsole(t, ctx, s.link(t))
		for i := 0; i < 10; i++ { // warm up, and let the page confirm the strip
			require.NoError(t, press(ctx, letterA))
			time.Sleep(100 * time.Millisecond)
		}
		waitJS(t, ctx, `window.kvm.latencySamples.length > 0`, 10*time.Second, "the strip confirmed")
		var got, received, firsts []float64
		for i := 0; i < samples; i++ {
			total := mustJS[int](t, ctx, `window.kvm.latencyTotal`)
			require.NoError(t, press(ctx, letterA))
			waitJS(t, ctx, fmt.Sprintf("window.kvm.latencyTotal > %d", total), 5*time.Second, "a latency sample")
			got = append(got, mustJS[float64](t, ctx, `window.kvm.latencySamples.at(-1)`))
			if r := mustJS[map[string]*float64](t, ctx, `window.kvm.latencySplit`)["received"]; r != nil {
				received = append(received, *r)
			}
			if f := mustJS[[]float64](t, ctx, `window.kvm.firstChangeSamples`); len(f) > 0 {
				firsts = append(firsts, f[len(f)-1])
			}
			time.Sleep(time.Duration(60+rand.IntN(80)) * time.Millisecond)
		}
		fmt.Printf("bench-vnc %s %dx%d: key-down → frame shown: %s\n", name, w, h, summary(got))
		if len(received) > 0 {
			fmt.Printf("bench-vnc %s:   of which key-down → last packet received: %s\n", name, summary(received))
		}
		if len(firsts) > 0 {
			fmt.Printf("bench-vnc %s:   input → first change (the page's figure for every source): %s\n", name, summary(firsts))
		}
		fmt.Printf("bench-vnc %s:   agent capture → last packet sent (all frames): %s\n", name, histogramSummary(s.metrics.CaptureToSend))
		fmt.Printf("bench-vnc %s:   agent encode (all frames): %s\n", name, histogramSummary(s.metrics.EncodeSeconds))
	}
	t.Run("testpattern", func(t *testing.T) {
		measure(t, "testpattern", w, h, stackOptions{width: w, height: h, fps: 30})
	})
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"x11vnc-defaults", nil},
		{"x11vnc-wait5-defer5", []string{"-wait", "5", "-defer", "5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			display := vncserver.Xvfb(t, w, h)
			addr := vncserver.X11VNC(t, display, "", tc.extra...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			vncserver.StartStrip(ctx, t, display, w, h)
			measure(t, tc.name, w, h, stackOptions{source: catalogSource(t, "vnc://"+addr)})
		})
	}
	for _, tc := range []struct {
		name        string
		aw, ah      int
		query, note string
	}{
		{"amt-1280x1024-16bpp", 1280, 1024, "", "RGB565, encoding 16 (zlib)"},
		{"amt-1920x1080-8bpp", 1920, 1080, "?bpp=8", "RGB332, encoding 16 (zlib)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			am := startAMTMachineSized(t, tc.aw, tc.ah, tc.query, firmware.ManagementConfig{})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			vncserver.StartStrip(ctx, t, am.display, tc.aw, tc.ah)
			fmt.Printf("bench-vnc %s: %s\n", tc.name, tc.note)
			measure(t, tc.name, tc.aw, tc.ah, stackOptions{source: am.source, consent: am.consent})
		})
	}
}
