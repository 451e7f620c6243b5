package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/turn"
)

// TestConstrainedLinkKeepsFramesFlowing: a 1080p console (a clock and a moving bar, as a
// machine at a prompt) over a 500 kbit/s last mile losing 5% of its packets, received as a
// browser does (NACK, congestion feedback, PLI while it cannot decode). Over 15 s of
// measuring, no gap between decodable frames exceeds 1 s (a freeze), the stream fits the link,
// a smaller picture is sent, and whenever the estimate stays below what legible 1080p needs
// while the path shows congestion, it is sent within the ladder's second.
//
// Not covered, and known to freeze: full-screen motion (MotionFull) on this link, where
// retransmissions and keyframe requests feed each other (see the closing note of issue 9).
func TestConstrainedLinkKeepsFramesFlowing(t *testing.T) {
	const (
		rate     = 500_000
		loss     = 0.05
		warmUp   = 8 * time.Second
		measured = 15 * time.Second
	)
	w := newLimitedVnetWorld(t, fullCone, fullCone, loss, rate)
	log := testLogger()
	r, err := relay.New(relay.Config{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: log,
		TURN: &turn.Config{
			ListenAddr: turnWANIP + ":3478", PublicIP: netip.MustParseAddr(turnWANIP),
			Secrets:    [][]byte{[]byte("vnet-test-secret-0123456789abcdef")},
			AllowPeers: []netip.Prefix{netip.MustParsePrefix("5.0.0.0/24")}, Net: w.turnNet,
		},
	})
	require.NoError(t, err)
	dev, err := testpattern.New(testpattern.Config{Width: 1920, Height: 1080, FPS: 15})
	require.NoError(t, err)
	tok, err := relay.AgentToken(r.Issuer(), "dev1", time.Hour)
	require.NoError(t, err)
	metrics := agent.NewMetrics(nil)
	a, err := agent.New(agent.Config{
		Server: r.URL(), Token: tok, Source: dev.DeviceSource(), SourceKind: "testpattern",
		NewEncoder: encoders.New, Encoder: media.EncoderConfig{FPS: 15}, Metrics: metrics,
		WebRTC: agent.WebRTCConfig{Net: w.agentNet}, Logger: log,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Serve(ctx) })
	wg.Go(func() { _ = a.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait(); dev.Close() })
	(&stack{relay: r, url: r.URL()}).waitAgent(t)

	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	c := openLikeThePage(t, wctx, r, testconsole.Config{Relay: r.URL(), Net: w.consNet, Receiver: true}, 2)

	time.Sleep(warmUp)
	from := time.Now()
	b0 := testutil.ToFloat64(metrics.EncodedBytes)
	// Meanwhile, watch the ladder. It steps down on an estimate below what the sent size needs
	// AND sustained congestion (GCC's delay overuse, or loss it will not raise its estimate
	// through): a low estimate alone is what one delay spike leaves behind on a console at a
	// prompt, and must not shrink it. So: an estimate below what legible 1080p needs while
	// the ladder sees congestion, for longer than it waits (1 s, plus a frame and a poll of
	// slack), must have brought a smaller picture. And this link loses 5% of its packets all
	// the time, above GCC's 2%: congestion is always there to see, so a smaller picture must
	// come at all (the ladder's own congestion gauge cannot hide a ladder that never steps).
	var belowSince time.Time
	var stuck []string
	smaller := 0
	for time.Since(from) < measured {
		time.Sleep(100 * time.Millisecond)
		target, sent := testutil.ToFloat64(metrics.TargetBitrate), testutil.ToFloat64(metrics.SentHeight)
		congested := testutil.ToFloat64(metrics.LadderCongested) == 1
		if sent < 1080 {
			smaller++
		}
		switch {
		case target >= need(1920, 1080) || sent < 1080 || !congested:
			belowSince = time.Time{}
		case belowSince.IsZero():
			belowSince = time.Now()
		case time.Since(belowSince) > 1500*time.Millisecond:
			stuck = append(stuck, fmt.Sprintf("%.0f bit/s with congestion for %s at 1080p", target, time.Since(belowSince).Round(100*time.Millisecond)))
		}
	}
	to := time.Now()
	encoded := (testutil.ToFloat64(metrics.EncodedBytes) - b0) * 8 / measured.Seconds()
	frames := c.DecodableFrames(from)
	freezes := c.Freezes(from, to, time.Second)
	sent, target := testutil.ToFloat64(metrics.SentHeight), testutil.ToFloat64(metrics.TargetBitrate)
	t.Logf("%d decodable frames in %s (%.1f/s), %d keyframe requests, freezes over 1 s: %v, sent height %.0f (smaller than 1080 in %d of the polls), target bitrate %.0f bit/s, encoded %.0f bit/s, ladder steps down %.0f back %.0f up %.0f probe %.0f",
		frames, measured, float64(frames)/measured.Seconds(), c.KeyframeRequests(), freezes, sent, smaller, target, encoded,
		testutil.ToFloat64(metrics.LadderSteps.WithLabelValues("down")), testutil.ToFloat64(metrics.LadderSteps.WithLabelValues("back")),
		testutil.ToFloat64(metrics.LadderSteps.WithLabelValues("up")), testutil.ToFloat64(metrics.LadderSteps.WithLabelValues("probe")))
	assert.Empty(t, freezes, "no freeze over 1 s")
	assert.GreaterOrEqual(t, frames, int(measured.Seconds()*15/3), "at least a third of the source's 15 frames/s decodable")
	assert.Empty(t, stuck, "an estimate that cannot carry legible 1080p, with congestion, brings a smaller picture within the ladder's second")
	assert.Positive(t, smaller, "a 500 kbit/s link losing 5% of its packets gets a smaller picture than 1080p")
	assert.Less(t, encoded, float64(rate), "the stream fits the link")
}

// need mirrors the agent's ladder: legible text needs 0.3 bit/s per pixel.
func need(w, h int) float64 { return float64(w*h) * 0.3 }
