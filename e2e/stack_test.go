package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/turn"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide clocks fiber and fasthttp start once and never stop.
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/utils.StartTimeStampUpdater.func1.1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// fasthttp's worker-pool cleaner notices Shutdown only after its idle sleep (10 s).
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

// stack is a relay and one agent serving the test pattern, all in this process.
type stack struct {
	relay   *relay.Relay
	metrics *agent.Metrics
	device  *testpattern.Source
	url     string
	cfg     relay.Config
	stopAgt func() // stops the agent and closes its device

	relayCancel context.CancelFunc
	relayDone   chan struct{}
}

type stackOptions struct {
	width, height, fps int
	noTURN             bool
	// turnTLSOnly adds a TURN-over-TLS listener (self-signed for 127.0.0.1) and hands peers
	// only its turns: URL.
	turnTLSOnly bool
	// source, when set, is what the agent serves instead of a test pattern of its own.
	source device.Source
	// input, when set, receives the consoles' input instead of the source (as --hid does).
	input hid.Sink
	// consent is the exchange a source that asks for consent (AMT) waits on.
	consent *device.Consent
	// gateway, when set, makes the agent a gateway serving its machines instead of a source.
	gateway device.Gateway
	// retryMin, when set, is the supervisor's first reconnect wait (default 100 ms).
	retryMin time.Duration
	// controlTimeout, when set, is how long a request for control waits (default 30 s).
	controlTimeout time.Duration
}

func testLogger() *slog.Logger {
	if os.Getenv("KVMRELAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newStack starts a relay on loopback with TURN on loopback, and an agent for device "dev1".
// TURN may relay to this machine's own non-loopback addresses (inside scripts/netns-exec that
// is the test host interface only), like the demo.
func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	if o.width == 0 {
		o.width, o.height = 1280, 720
	}
	if o.fps == 0 {
		o.fps = 30
	}
	log := testLogger()
	s := &stack{cfg: relay.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: log, RedeemPerMinute: 10_000}}
	if !o.noTURN {
		local, err := relay.LocalAddrs()
		require.NoError(t, err)
		s.cfg.TURN = &turn.Config{
			ListenAddr: "127.0.0.1:0",
			PublicIP:   netip.MustParseAddr("127.0.0.1"),
			Secrets:    [][]byte{[]byte("e2e-test-secret-0123456789abcdef")},
			AllowPeers: local,
		}
		if o.turnTLSOnly {
			s.cfg.TURN.TLSListenAddr = "127.0.0.1:0"
			cert := testenv.SelfSignedCert(t, "")
			s.cfg.TURN.TLSCert, s.cfg.TURN.TLSKey = cert.CertFile, cert.KeyFile
			s.cfg.TURNAdvertise = []relay.TURNTransport{relay.TURNOverTLS}
		}
	}
	s.startRelay(t)
	// Restarts keep the address: the agent reconnects to the same URL.
	s.cfg.Listen = s.relay.Addr().String()
	tok, err := relay.AgentToken(s.relay.Issuer(), "dev1", time.Hour)
	require.NoError(t, err)
	s.device, s.metrics, s.stopAgt = startAgent(t, s.url, tok, o)
	t.Cleanup(s.stop)
	s.waitAgent(t)
	return s
}

// startAgent runs an agent serving the test pattern (o's size and rate) for the device its
// token names, connected to the relay at server, in this process. stop ends the agent, then
// closes the device.
func startAgent(t testing.TB, server, token string, o stackOptions) (dev *testpattern.Source, metrics *agent.Metrics, stop func()) {
	t.Helper()
	dev, err := testpattern.New(testpattern.Config{Width: o.width, Height: o.height, FPS: o.fps, MaxFPS: envInt("KVMRELAY_BENCH_MAXFPS")})
	require.NoError(t, err)
	source := dev.DeviceSource()
	if o.source != nil {
		source = o.source
	}
	metrics = agent.NewMetrics(nil)
	a, err := agent.New(agent.Config{
		Metrics:      metrics,
		Server:       server,
		Token:        token,
		Source:       source,
		SourceKind:   "testpattern",
		Input:        o.input,
		Consent:      o.consent,
		Supervisor:   device.SupervisorConfig{RetryMin: 100 * time.Millisecond, RetryMax: time.Second},
		NewEncoder:   encoders.New,
		Encoder:      media.EncoderConfig{FPS: o.fps, Threads: envInt("KVMRELAY_BENCH_THREADS")},
		Logger:       testLogger().With("component", "agent"),
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 500 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx) })
	return dev, metrics, func() {
		cancel()
		wg.Wait()
		_ = dev.Close()
	}
}

// startRelay starts (or restarts) the relay with s.cfg.
func (s *stack) startRelay(t testing.TB) {
	t.Helper()
	r, err := relay.New(s.cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Serve(ctx) }()
	s.relay, s.url, s.relayCancel, s.relayDone = r, r.URL(), cancel, done
}

// stopRelay stops the relay and waits until it has closed everything.
func (s *stack) stopRelay() {
	s.relayCancel()
	<-s.relayDone
}

// waitAgent waits until the agent's signaling connection is up.
func (s *stack) waitAgent(t testing.TB) {
	t.Helper()
	require.Eventually(t, func() bool {
		mf, err := s.relayMetric("kvmrelay_agents_connected")
		return err == nil && mf >= 1
	}, 10*time.Second, 20*time.Millisecond, "agent never connected to the relay")
}

func (s *stack) stop() {
	s.stopAgt()
	s.stopRelay()
}

// link mints a one-time console link for dev1.
func (s *stack) link(t testing.TB) string {
	t.Helper()
	l, err := relay.ConsoleLink(s.relay.Issuer(), s.url, "dev1", "e2e")
	require.NoError(t, err)
	return l
}

// framesEncoded counts the frames the agent has encoded.
func (s *stack) framesEncoded() int {
	return int(testutil.ToFloat64(s.metrics.Frames.WithLabelValues("key")) + testutil.ToFloat64(s.metrics.Frames.WithLabelValues("delta")))
}

// envInt reads an integer tuning knob for benchmarks (0 when unset).
func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}
