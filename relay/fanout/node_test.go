package fanout

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling"
)

// relayNode is one relay node of a world: its own signaling server (no connections of its
// own: the agent is on the world's), hub and relayed viewers, on the world's bus and registry.
type relayNode struct {
	sig     *signaling.Server
	hub     *Hub
	viewers *Viewers
	metrics *Metrics
	// cut, when set, makes this node's registry fail (a node cut off from Redis, or hung).
	cut atomic.Bool
}

// lateRelay hands a node's signaling server its viewers, built after it.
type lateRelay struct{ v atomic.Pointer[Viewers] }

func (l *lateRelay) StartViewer(ctx context.Context, v signaling.RelayedViewer, send signaling.ViewerSend) (signaling.ViewerPeer, error) {
	vs := l.v.Load()
	if vs == nil {
		return nil, errors.New("viewers not started")
	}
	return vs.StartViewer(ctx, v, send)
}

func (l *lateRelay) Decodes(codecs []string) bool { return l.v.Load().Decodes(codecs) }

// cuttableLinks are a node's Links whose leases fail while the node is cut.
type cuttableLinks struct {
	*signaling.Server
	n *relayNode
}

func (c cuttableLinks) StreamLeases() signaling.StreamLeases {
	return cuttableLeases{StreamLeases: c.Server.StreamLeases(), n: c.n}
}

type cuttableLeases struct {
	signaling.StreamLeases
	n *relayNode
}

var errCut = errors.New("registry unreachable")

func (c cuttableLeases) ClaimStream(ctx context.Context, key, node string, ttl time.Duration) (string, error) {
	if c.n.cut.Load() {
		return "", errCut
	}
	return c.StreamLeases.ClaimStream(ctx, key, node, ttl)
}

func (c cuttableLeases) RenewStream(ctx context.Context, key, node string, ttl time.Duration) (bool, error) {
	if c.n.cut.Load() {
		return false, errCut
	}
	return c.StreamLeases.RenewStream(ctx, key, node, ttl)
}

func (c cuttableLeases) StreamHolder(ctx context.Context, key string) (string, error) {
	if c.n.cut.Load() {
		return "", errCut
	}
	return c.StreamLeases.StreamHolder(ctx, key)
}

// leaseTTL is short so that a takeover happens within a test's patience.
const leaseTTL = 600 * time.Millisecond

func startRelayNode(t *testing.T, w *world) *relayNode {
	t.Helper()
	late := &lateRelay{}
	sig, err := signaling.NewServer(signaling.Config{Bus: w.bus, Registry: w.reg, Issuer: w.iss, Logger: quiet(), Viewers: late})
	require.NoError(t, err)
	n := &relayNode{sig: sig, metrics: NewMetrics(nil)}
	n.hub, err = New(Config{Uplinks: sig, Links: cuttableLinks{Server: sig, n: n}, API: w.loopback, LeaseTTL: leaseTTL,
		Linger: 300 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond, Logger: quiet(), Metrics: n.metrics})
	require.NoError(t, err)
	n.viewers, err = NewViewers(ViewersConfig{Hub: n.hub, API: w.loopback, Logger: quiet(), Metrics: n.metrics})
	require.NoError(t, err)
	late.v.Store(n.viewers)
	t.Cleanup(n.close)
	return n
}

// close stops the node (a graceful stop: its leases are released).
func (n *relayNode) close() {
	n.viewers.Close()
	n.hub.Close()
	_ = n.sig.Close()
}

// grows waits for a count to grow by more than by.
func grows(t *testing.T, c *atomic.Int64, by int64, what string) {
	t.Helper()
	before := c.Load()
	require.Eventually(t, func() bool { return c.Load() > before+by }, 20*time.Second, 20*time.Millisecond, what)
}

// TestHubAcrossNodes: two nodes relay one machine; the first to acquire it holds its lease and
// receives it from the agent, the other receives it from the first over a node link: the
// agent uploads one stream for both. When the holder stops (gracefully, or is cut off from
// the registry so that its lease expires), the other node takes the lease and receives the
// stream from the agent, and its viewers get video again from the same forwarder.
func TestHubAcrossNodes(t *testing.T) {
	tests := []struct {
		name string
		// stop ends the holder's part.
		stop func(holder *relayNode)
	}{
		{name: "holder stops", stop: func(h *relayNode) { h.close() }},
		{name: "holder cut off", stop: func(h *relayNode) { h.cut.Store(true) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := startWorld(t)
			a, b := startRelayNode(t, w), startRelayNode(t, w)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			m := Machine{Device: "dev1"}

			fwdA, releaseA, err := a.hub.Acquire(ctx, m)
			require.NoError(t, err)
			defer releaseA()
			holder, err := w.reg.StreamHolder(ctx, "dev1")
			require.NoError(t, err)
			assert.Equal(t, a.sig.Node(), holder, "the first node to relay the machine holds it")
			fwdB, releaseB, err := b.hub.Acquire(ctx, m)
			require.NoError(t, err)
			defer releaseB()
			assert.Equal(t, fwdA.Codec().MimeType, fwdB.Codec().MimeType, "the holder forwards the agent's codec")

			onA, onB := watch(t, w, fwdA, "va"), watch(t, w, fwdB, "vb")
			grows(t, onA, 20, "the holder's viewer receives the video")
			grows(t, onB, 20, "the other node's viewer receives the video through the holder")
			assert.Equal(t, 1.0, testutil.ToFloat64(w.agent.VideoSessions), "the agent uploads once for both nodes")
			assert.Equal(t, 1.0, testutil.ToFloat64(w.agent.Streams))
			assert.Equal(t, 1.0, testutil.ToFloat64(a.metrics.Uplinks))
			assert.Equal(t, 0.0, testutil.ToFloat64(a.metrics.NodeLinks))
			assert.Equal(t, 0.0, testutil.ToFloat64(b.metrics.Uplinks), "the other node asks the agent for nothing")
			assert.Equal(t, 0.0, testutil.ToFloat64(b.metrics.UplinkStarts))
			assert.Equal(t, 1.0, testutil.ToFloat64(b.metrics.NodeLinks))
			assert.Equal(t, 0.0, testutil.ToFloat64(a.metrics.Viewers), "a node link is no console")

			tt.stop(a)
			require.Eventually(t, func() bool {
				h, err := w.reg.StreamHolder(ctx, "dev1")
				return err == nil && h == b.sig.Node()
			}, 10*time.Second, 10*time.Millisecond, "the other node takes the machine over")
			require.Eventually(t, func() bool { return testutil.ToFloat64(b.metrics.Uplinks) == 1 }, 20*time.Second, 10*time.Millisecond,
				"the new holder receives the stream from the agent")
			grows(t, onB, 20, "the other node's viewer gets video again, from the same forwarder")
			require.Eventually(t, func() bool { return testutil.ToFloat64(w.agent.VideoSessions) == 1 }, 20*time.Second, 10*time.Millisecond,
				"the agent uploads once again (the old holder's uplink ended)")
			assert.Equal(t, 0.0, testutil.ToFloat64(b.metrics.NodeLinks))
			a.cut.Store(false)
		})
	}
}

// TestAcquireAsHolder: a node link is served only by the node holding the machine (or able to
// claim it): a node that another holds refuses rather than get the stream from yet another.
func TestAcquireAsHolder(t *testing.T) {
	w := startWorld(t)
	a, b := startRelayNode(t, w), startRelayNode(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := Machine{Device: "dev1"}
	_, releaseA, err := a.hub.AcquireAsHolder(ctx, m)
	require.NoError(t, err, "nobody holds the machine: a claims it")
	defer releaseA()
	_, _, err = b.hub.AcquireAsHolder(ctx, m)
	require.ErrorIs(t, err, errNotHolder)
	assert.Equal(t, 0.0, testutil.ToFloat64(b.metrics.Holders), "the refusal holds nothing")
	assert.Equal(t, 0.0, testutil.ToFloat64(b.metrics.NodeLinkStarts), "nor links to the holder")
}
