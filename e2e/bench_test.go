package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// The benchmarks are tests so they can drive Chromium; they run only when asked
// (make bench-latency / make bench-ttff) and print figures. They never assert on time.

func benchEnabled(t *testing.T, name string) {
	if os.Getenv("KVMRELAY_BENCH") != name {
		t.Skipf("benchmark: run with make bench-%s", name)
	}
}

// percentile of sorted samples, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func summary(samples []float64) string {
	s := slices.Clone(samples)
	slices.Sort(s)
	return fmt.Sprintf("n=%d p50=%.1f ms p95=%.1f ms p99=%.1f ms min=%.1f max=%.1f", len(s),
		percentile(s, 50), percentile(s, 95), percentile(s, 99), s[0], s[len(s)-1])
}

// processCPU is this process's user+system CPU time (relay and agent run here; Chromium does not).
func processCPU() time.Duration {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// TestBenchLatency measures key-down → first displayed frame showing the new count, in
// Chromium, from the page's own measurement (keydown event timestamp to the
// requestVideoFrameCallback of the first frame whose latency strip shows the new count).
func TestBenchLatency(t *testing.T) {
	benchEnabled(t, "latency")
	samples := 200
	if n, err := strconv.Atoi(os.Getenv("KVMRELAY_BENCH_SAMPLES")); err == nil && n > 0 {
		samples = n
	}
	for _, size := range [][2]int{{1920, 1080}, {1280, 720}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			s := newStack(t, stackOptions{width: size[0], height: size[1], fps: 30})
			ctx := testenv.Chromium(t)
			openConsole(t, ctx, s.link(t))
			// Warm up: bandwidth estimation ramps, the decoder settles.
			for i := 0; i < 20; i++ {
				require.NoError(t, press(ctx, letterA))
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond)
			cpu0, frames0 := processCPU(), s.framesEncoded()
			var got, received, presented []float64
			for i := 0; i < samples; i++ {
				total, err := js[int](ctx, `window.kvm.latencyTotal`)
				require.NoError(t, err)
				require.NoError(t, press(ctx, letterA))
				waitJS(t, ctx, fmt.Sprintf("window.kvm.latencyTotal > %d", total), 5*time.Second, "a latency sample")
				last, err := js[float64](ctx, `window.kvm.latencySamples.at(-1)`)
				require.NoError(t, err)
				got = append(got, last)
				split, err := js[map[string]*float64](ctx, `window.kvm.latencySplit`)
				require.NoError(t, err)
				if r := split["received"]; r != nil {
					received = append(received, *r)
				}
				if p := split["presented"]; p != nil {
					presented = append(presented, *p)
				}
				// Random spacing so presses do not phase-lock with the source's steady tick.
				time.Sleep(time.Duration(30+rand.IntN(50)) * time.Millisecond)
			}
			cpu, frames := processCPU()-cpu0, s.framesEncoded()-frames0
			stats, _ := js[string](ctx, `JSON.stringify(window.kvm.stats)`)
			fmt.Printf("bench-latency %dx%d: key-down → frame shown: %s\n", size[0], size[1], summary(got))
			if len(received) > 0 {
				fmt.Printf("bench-latency %dx%d:   of which key-down → last packet received: %s\n", size[0], size[1], summary(received))
			}
			if len(presented) > 0 {
				fmt.Printf("bench-latency %dx%d:   of which key-down → frame presented: %s\n", size[0], size[1], summary(presented))
			}
			fmt.Printf("bench-latency %dx%d:   agent capture → last packet sent (all frames): %s\n", size[0], size[1], histogramSummary(s.metrics.CaptureToSend))
			fmt.Printf("bench-latency %dx%d:   agent encode (all frames): %s\n", size[0], size[1], histogramSummary(s.metrics.EncodeSeconds))
			if frames > 0 {
				fmt.Printf("bench-latency %dx%d: relay+agent CPU %.2f ms per encoded frame (%d frames, %s CPU, %d cores)\n",
					size[0], size[1], float64(cpu.Microseconds())/1000/float64(frames), frames, cpu.Round(time.Millisecond), runtime.NumCPU())
			}
			fmt.Printf("bench-latency %dx%d: console stats %s\n", size[0], size[1], stats)
		})
	}
}

// TestBenchTimeToFirstFrame measures console open (navigation start) → first decoded frame
// shown, over 20 connects, direct and forced through the embedded TURN server.
func TestBenchTimeToFirstFrame(t *testing.T) {
	benchEnabled(t, "ttff")
	connects := 20
	s := newStack(t, stackOptions{width: 1920, height: 1080, fps: 30})
	ctx := testenv.Chromium(t)
	// Installed before any page script: the first frame's callback time since navigation start.
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		document.addEventListener("DOMContentLoaded", () => {
			const v = document.querySelector("video");
			if (v) v.requestVideoFrameCallback((now) => { window.__ttff = now; });
		});`})
	require.NoError(t, err)
	milestones := []string{"redeemed", "ws-open", "welcome", "join", "offer", "answer", "track", "connected"}
	for _, mode := range []struct{ name, fragment string }{{"direct", ""}, {"relayed", "&relay=1"}} {
		var got []float64
		steps := map[string][]float64{}
		for i := 0; i < connects; i++ {
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.link(t)+mode.fragment)))
			waitJS(t, ctx, `window.__ttff > 0`, 20*time.Second, "first frame")
			v, err := js[float64](ctx, `window.__ttff`)
			require.NoError(t, err)
			got = append(got, v)
			marks, err := js[map[string]float64](ctx, `Object.fromEntries(performance.getEntriesByType("mark").filter(m => m.name.startsWith("kvm:")).map(m => [m.name.slice(4), m.startTime]))`)
			require.NoError(t, err)
			nav, _ := js[map[string]float64](ctx, `(() => { const n = performance.getEntriesByType("navigation")[0]; return {response: n.responseEnd, loaded: n.domContentLoadedEventStart}; })()`)
			marks["html-received"] = nav["response"]
			marks["page-loaded"] = nav["loaded"]
			for name, at := range marks {
				steps[name] = append(steps[name], at)
			}
			path, _ := js[string](ctx, `(window.kvm.stats && window.kvm.stats.path) || "?"`)
			if i == 0 {
				fmt.Printf("bench-ttff %s: path %s\n", mode.name, path)
			}
			// Leave the console so the session ends before the next connect. A person opens a
			// console from the relay's own pages, so wait on one of those (same origin: the
			// browser keeps its renderer process, as it would for them).
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.url+"/healthz")))
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Printf("bench-ttff %s: console open → first frame: %s\n", mode.name, summary(got))
		var line strings.Builder
		for _, name := range append([]string{"html-received", "page-loaded"}, milestones...) {
			if v := steps[name]; len(v) > 0 {
				sorted := slices.Clone(v)
				slices.Sort(sorted)
				fmt.Fprintf(&line, " %s %.0f", name, percentile(sorted, 50))
			}
		}
		fmt.Printf("bench-ttff %s: median ms after navigation start:%s, first frame %.0f\n", mode.name, line.String(), percentile(slices.Sorted(slices.Values(got)), 50))
	}
}

// histogramSummary estimates p50/p95 from a Prometheus histogram's buckets (upper bounds).
func histogramSummary(h prometheus.Histogram) string {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		return err.Error()
	}
	hist := m.GetHistogram()
	total := hist.GetSampleCount()
	if total == 0 {
		return "no samples"
	}
	q := func(p float64) string {
		want := uint64(p * float64(total))
		for _, b := range hist.GetBucket() {
			if b.GetCumulativeCount() >= want {
				return fmt.Sprintf("≤%.0f ms", b.GetUpperBound()*1000)
			}
		}
		return "> last bucket"
	}
	return fmt.Sprintf("n=%d p50 %s p95 %s mean %.1f ms", total, q(0.5), q(0.95), hist.GetSampleSum()/float64(total)*1000)
}
