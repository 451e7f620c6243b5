package fanout

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/sfu"
	"github.com/kvmrelay/kvmrelay/signaling"
)

// world is a relay's signaling server and a real agent (test pattern, real encoder) in
// process, on loopback.
type world struct {
	sig      *signaling.Server
	agent    *agent.Metrics
	loopback sfu.APIConfig
	// bus, reg and iss are shared by the world's relay nodes (node_test.go).
	bus *signaling.MemoryBus
	reg *signaling.MemoryRegistry
	iss *auth.Issuer
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startWorld(t *testing.T) *world {
	t.Helper()
	key, err := auth.GenerateKey()
	require.NoError(t, err)
	ring, err := auth.NewKeyring(key)
	require.NoError(t, err)
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: ring, Name: "kvmrelay"})
	require.NoError(t, err)
	bus := signaling.NewMemoryBus()
	reg := signaling.NewMemoryRegistry()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv, err := signaling.NewServer(signaling.Config{Bus: bus, Registry: reg, Issuer: iss, PublicURL: "http://" + ln.Addr().String(), Logger: quiet()})
	require.NoError(t, err)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	srv.Mount(app)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.NoError(t, app.Shutdown())
		bus.Close()
	})

	tok, _, err := iss.Mint(auth.Claims{Subject: "dev1", Audience: auth.AudienceAgent, Device: "dev1"}, time.Hour)
	require.NoError(t, err)
	dev, err := testpattern.New(testpattern.Config{Width: 640, Height: 480, FPS: 15})
	require.NoError(t, err)
	metrics := agent.NewMetrics(nil)
	a, err := agent.New(agent.Config{
		Server: "http://" + ln.Addr().String(), Token: tok, Source: dev.DeviceSource(), SourceKind: testpattern.Scheme,
		NewEncoder: encoders.New, Encoder: media.EncoderConfig{FPS: 15}, Codecs: []media.Codec{media.CodecVP8},
		WebRTC: agent.WebRTCConfig{IncludeLoopback: true}, Logger: quiet(), Metrics: metrics,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait(); dev.Close() })
	require.Eventually(t, func() bool {
		on, err := reg.AgentOnline(context.Background(), "dev1")
		return err == nil && on
	}, 10*time.Second, 10*time.Millisecond, "agent online")
	return &world{sig: srv, agent: metrics, bus: bus, reg: reg, iss: iss, loopback: sfu.APIConfig{LoggerFactory: nil, Settings: func(se *webrtc.SettingEngine) {
		se.SetIncludeLoopbackCandidate(true)
	}}}
}

// watch connects a browser-like receiver to fwd through a Viewer and counts its packets.
func watch(t *testing.T, w *world, fwd *sfu.Forwarder, id string) *atomic.Int64 {
	t.Helper()
	vapi, err := sfu.NewViewerAPI(w.loopback)
	require.NoError(t, err)
	pc, est, err := vapi.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	v, err := fwd.AddViewer(sfu.ViewerConfig{ID: id, Estimator: est})
	require.NoError(t, err)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			v.RequestKeyframe()
		}
	})
	_, err = pc.AddTrack(v)
	require.NoError(t, err)

	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	me := &webrtc.MediaEngine{}
	require.NoError(t, me.RegisterDefaultCodecs())
	rx, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	var packets atomic.Int64
	var reading sync.WaitGroup
	rx.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		reading.Add(1)
		defer reading.Done()
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			packets.Add(1)
		}
	})
	offer, err := pc.CreateOffer(nil)
	require.NoError(t, err)
	gathered := webrtc.GatheringCompletePromise(pc)
	require.NoError(t, pc.SetLocalDescription(offer))
	<-gathered
	require.NoError(t, rx.SetRemoteDescription(*pc.LocalDescription()))
	ans, err := rx.CreateAnswer(nil)
	require.NoError(t, err)
	gathered = webrtc.GatheringCompletePromise(rx)
	require.NoError(t, rx.SetLocalDescription(ans))
	<-gathered
	require.NoError(t, pc.SetRemoteDescription(*rx.LocalDescription()))
	t.Cleanup(func() {
		_ = rx.Close()
		_ = pc.Close()
		v.Close()
		reading.Wait()
		select {
		case <-v.Done():
		case <-time.After(10 * time.Second):
			t.Errorf("viewer %s: RTCP reader still running", id)
		}
	})
	return &packets
}

// TestHubAcquire: the first Acquire starts one uplink to the agent (video only, off the
// roster), the forwarder carries the device's stream to viewers, a second Acquire shares it,
// and the last release stops it after the linger.
func TestHubAcquire(t *testing.T) {
	w := startWorld(t)
	metrics := NewMetrics(nil)
	hub, err := New(Config{Uplinks: w.sig, API: w.loopback, Linger: 300 * time.Millisecond, Logger: quiet(), Metrics: metrics})
	require.NoError(t, err)
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fwd, release, err := hub.Acquire(ctx, Machine{Device: "dev1"})
	require.NoError(t, err)
	assert.Equal(t, webrtc.MimeTypeVP8, fwd.Codec().MimeType)
	fwd2, release2, err := hub.Acquire(ctx, Machine{Device: "dev1"})
	require.NoError(t, err)
	assert.Same(t, fwd, fwd2, "one stream per machine")

	a := watch(t, w, fwd, "v1")
	b := watch(t, w, fwd2, "v2")
	require.Eventually(t, func() bool { return a.Load() > 20 && b.Load() > 20 }, 20*time.Second, 20*time.Millisecond, "both viewers receive the device's video")

	assert.Equal(t, 1.0, testutil.ToFloat64(metrics.UplinkStarts), "one uplink however many hold the stream")
	assert.Equal(t, 1.0, testutil.ToFloat64(metrics.Uplinks))
	assert.Equal(t, 2.0, testutil.ToFloat64(metrics.Holders))
	assert.Equal(t, 1.0, testutil.ToFloat64(w.agent.Streams), "the agent encodes once")
	assert.Equal(t, 1.0, testutil.ToFloat64(w.agent.VideoSessions), "the agent uploads once")

	release()
	release() // a release is given once
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, 1.0, testutil.ToFloat64(w.agent.VideoSessions), "still held")
	release2()
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(w.agent.VideoSessions) == 0 && testutil.ToFloat64(metrics.Uplinks) == 0 &&
			testutil.ToFloat64(w.agent.Streams) == 0
	}, 10*time.Second, 20*time.Millisecond, "the uplink, and the agent's encoder, stop a linger after the last release")
	assert.Equal(t, 0.0, testutil.ToFloat64(metrics.Holders))
}

// TestHubReacquireWithinLinger: a holder back within the linger gets the same stream, no new
// uplink.
func TestHubReacquireWithinLinger(t *testing.T) {
	w := startWorld(t)
	metrics := NewMetrics(nil)
	hub, err := New(Config{Uplinks: w.sig, API: w.loopback, Linger: 5 * time.Second, Logger: quiet(), Metrics: metrics})
	require.NoError(t, err)
	defer hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fwd, release, err := hub.Acquire(ctx, Machine{Device: "dev1", Agent: "dev1"})
	require.NoError(t, err)
	release()
	fwd2, release2, err := hub.Acquire(ctx, Machine{Device: "dev1"})
	require.NoError(t, err)
	defer release2()
	assert.Same(t, fwd, fwd2)
	assert.Equal(t, 1.0, testutil.ToFloat64(metrics.UplinkStarts))
}

// TestHubAgentOffline: Acquire waits for the stream within its context; an agent that is not
// connected gives none.
func TestHubAgentOffline(t *testing.T) {
	w := startWorld(t)
	metrics := NewMetrics(nil)
	hub, err := New(Config{Uplinks: w.sig, API: w.loopback, Linger: time.Second, RetryMin: 50 * time.Millisecond, Logger: quiet(), Metrics: metrics})
	require.NoError(t, err)
	defer hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, _, err = hub.Acquire(ctx, Machine{Device: "nobody"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 0.0, testutil.ToFloat64(metrics.Holders))
	assert.Equal(t, 0.0, testutil.ToFloat64(metrics.UplinkStarts))
}
