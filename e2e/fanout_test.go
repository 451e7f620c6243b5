package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// openRelayedConsole opens a Go console on the stack's device, waiting for its data channels.
func openRelayedConsole(t *testing.T, ctx context.Context, s *stack, name string) *sharedParticipant {
	t.Helper()
	code, err := testconsole.CodeFromLink(s.link(t))
	require.NoError(t, err)
	con, err := testconsole.Open(ctx, testconsole.Config{Relay: s.url, Code: code, IncludeLoopback: true})
	require.NoError(t, err)
	t.Cleanup(con.Close)
	require.NoError(t, con.WaitChannels(ctx), "%s's data channels", name)
	return &sharedParticipant{name: name, con: con}
}

// TestFanoutRelayedViewers: with --p2p-viewers 1 (the default) the first console of a device
// gets its video from the agent and every later one from the relay, which receives the
// device's stream once: four consoles, the agent encodes one stream and uploads two (the
// first console's and the relay's uplink). A relayed console's input still goes peer to peer
// to the agent: its keys reach the machine once it holds control.
func TestFanoutRelayedViewers(t *testing.T) {
	s := newStack(t, stackOptions{width: 640, height: 360, fps: 15})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	first := openRelayedConsole(t, ctx, s, "first")
	_, err := first.con.WaitVideo(ctx)
	require.NoError(t, err, "the first console's video")
	assert.True(t, first.con.AgentVideo(), "the first console's video is peer to peer with the agent")
	assert.Nil(t, first.con.RelayedVideoPeer(), "the relay offers the first console no video")
	controllerIs(t, ctx, first, first)

	var relayed []*sharedParticipant
	for _, name := range []string{"second", "third", "fourth"} {
		p := openRelayedConsole(t, ctx, s, name)
		require.NoError(t, p.con.WaitRelayedVideo(ctx), "%s's video through the relay", name)
		assert.False(t, p.con.AgentVideo(), "%s's agent connection carries no video", name)
		relayed = append(relayed, p)
	}
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(s.metrics.VideoSessions) == 2
	}, 10*time.Second, 20*time.Millisecond, "the agent uploads two streams for four consoles (now %v)", testutil.ToFloat64(s.metrics.VideoSessions))
	assert.Equal(t, 1.0, testutil.ToFloat64(s.metrics.Streams), "the agent encodes once")
	uplinks, err := s.relayMetric("kvmrelay_fanout_uplinks")
	require.NoError(t, err)
	assert.Equal(t, 1.0, uplinks, "the relay receives the device's stream once")
	viewers, err := s.relayMetric("kvmrelay_fanout_viewers")
	require.NoError(t, err)
	assert.Equal(t, 3.0, viewers, "the relay sends three consoles their video")
	for _, p := range append([]*sharedParticipant{first}, relayed...) {
		assert.Empty(t, p.con.Foreign(), "%s got no message of another session", p.name)
	}

	// The second console's input: dropped while it watches, delivered once it holds control.
	second := relayed[0]
	keysReach(t, s.device, second, false)
	require.NoError(t, second.con.Control(wire.Control{Action: wire.ControlRequest}))
	_, err = first.con.WaitRoster(ctx, "the second console asks for control", func(r wire.Roster) bool {
		return r.Request != nil && r.Request.From == second.con.SID()
	})
	require.NoError(t, err)
	require.NoError(t, first.con.Control(wire.Control{Action: wire.ControlApprove, From: second.con.SID()}))
	controllerIs(t, ctx, second, second)
	keysReach(t, s.device, second, true)
	keysReach(t, s.device, first, false)

	// A relayed console that leaves gives its hold back; the others keep their video.
	before := relayed[1].con.RelayedPackets()
	relayed[2].con.Close()
	require.Eventually(t, func() bool {
		v, err := s.relayMetric("kvmrelay_fanout_viewers")
		return err == nil && v == 2
	}, 10*time.Second, 20*time.Millisecond, "the leaving console's relayed connection is closed")
	require.Eventually(t, func() bool { return relayed[1].con.RelayedPackets() > before+10 }, 10*time.Second, 20*time.Millisecond,
		"the third console's video goes on")
}

// TestFanoutRelayedViewerInChromium: two Chromium tabs on one device; the first gets its video
// from the agent, the second from the relay (its agent connection carries the input channels
// only): it decodes frames over the relay's connection, the agent uploads two streams (the
// first tab's and the relay's uplink), and the second tab's keys reach the machine once it
// holds control.
func TestFanoutRelayedViewerInChromium(t *testing.T) {
	s := newStack(t, stackOptions{width: 640, height: 360, fps: 30})
	browser := testenv.Chromium(t)
	first := browser
	openConsole(t, first, s.link(t))
	waitJS(t, first, `window.kvm.framesDecoded > 0 && window.kvm.stats.videoVia === "agent"`, 10*time.Second, "the first tab's video from the agent")

	second, closeSecond := chromedp.NewContext(browser)
	t.Cleanup(closeSecond)
	openConsole(t, second, s.link(t))
	waitJS(t, second, `window.kvm.framesDecoded > 0 && window.kvm.stats.videoVia === "relay"`, 15*time.Second, "the second tab's video through the relay")
	shot(t, second, "relayed-viewer")
	// Chromium hides the address of a peer-reflexive remote candidate (the relay's checks can
	// arrive before its trickled candidate): then the pair's type says so and the address
	// cannot be compared; the agent's and relay's stream counts below still show who sends.
	waitJS(t, second, `!!window.kvm.stats.remoteAddress || window.kvm.stats.remoteType === "prflx"`, 5*time.Second,
		"the relayed video's selected candidate pair")
	remote, err := js[string](second, `window.kvm.stats.remoteAddress || ""`)
	require.NoError(t, err)
	if remote == "" {
		t.Logf("the relayed video's pair is peer-reflexive: Chromium does not reveal its address")
	} else {
		relayHost, _, err := net.SplitHostPort(s.relay.Addr().String())
		require.NoError(t, err)
		host, _, err := net.SplitHostPort(remote)
		require.NoError(t, err, "the relayed video's selected pair names its far end")
		if ip := os.Getenv("KVMRELAY_TEST_HOST_IP"); ip != "" {
			relayHost = ip // Chromium ignores loopback: it reaches the relay on the test host's address
		}
		assert.Equal(t, relayHost, host, "the second tab's video comes from the relay's address")
		agentSide, err := js[string](first, `window.kvm.stats.remoteAddress || ""`)
		require.NoError(t, err)
		assert.NotEqual(t, agentSide, remote, "the two tabs' video come from different peers (the agent's, the relay's)")
	}

	require.Eventually(t, func() bool { return testutil.ToFloat64(s.metrics.VideoSessions) == 2 }, 10*time.Second, 20*time.Millisecond,
		"the agent uploads the first tab's stream and the relay's uplink")
	viewers, err := s.relayMetric("kvmrelay_fanout_viewers")
	require.NoError(t, err)
	assert.Equal(t, 1.0, viewers, "the relay sends the second tab its video")
	frames, err := js[float64](second, `window.kvm.framesDecoded`)
	require.NoError(t, err)
	waitJS(t, second, fmt.Sprintf("window.kvm.framesDecoded > %v", frames+10), 10*time.Second, "the relayed video keeps playing")

	// Input from the relayed tab goes peer to peer to the agent: dropped while it watches,
	// delivered once it holds control.
	waitJS(t, second, `window.kvm.roster && window.kvm.roster.participants.length === 2 && !window.kvm.inControl`, 10*time.Second,
		"the second tab watching")
	before := s.device.KeyDownCount()
	require.NoError(t, press(second, letterA))
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, before, s.device.KeyDownCount(), "the watching tab's key is dropped at the agent")
	ok, err := js[bool](second, `window.kvm.requestControl()`)
	require.NoError(t, err)
	require.True(t, ok)
	waitJS(t, first, `window.kvm.controlBar === "prompt"`, 10*time.Second, "the first tab prompted")
	_, err = js[bool](first, `window.kvm.approve()`)
	require.NoError(t, err)
	waitJS(t, second, `window.kvm.inControl`, 10*time.Second, "the second tab in control")
	before = s.device.KeyDownCount()
	require.NoError(t, press(second, letterA))
	require.Eventually(t, func() bool { return s.device.KeyDownCount() == before+1 }, 5*time.Second, 10*time.Millisecond,
		"the relayed tab's key reaches the machine")
	waitJS(t, second, fmt.Sprintf("window.kvm.stripCount === %d", before+1), 5*time.Second, "the relayed picture shows the typed key")
}

// TestFanoutAcrossNodes: four consoles of one device, two on each of two relay nodes sharing
// Redis and PostgreSQL, the agent on node B. The first console of each node gets its video from
// the agent (--p2p-viewers counts per node); the second through the relay. Node A's relayed
// console comes first: node A holds the device's stream (its lease in Redis) and receives it
// from the agent over an uplink whose signaling crosses Redis like a console's; node B's
// relayed console gets the stream from node A over a node link: every console sees frames, and
// the agent uploads three streams (two peer to peer, one uplink for the whole deployment).
func TestFanoutAcrossNodes(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	open := func(node *relayNode) *testconsole.Console {
		link, err := relay.ConsoleLink(c.issuer, node.url, "dev1", "e2e")
		require.NoError(t, err)
		code, err := testconsole.CodeFromLink(link)
		require.NoError(t, err)
		con, err := testconsole.Open(ctx, testconsole.Config{Relay: node.url, Code: code})
		require.NoError(t, err)
		t.Cleanup(con.Close)
		require.NoError(t, con.WaitChannels(ctx))
		return con
	}
	for _, node := range []*relayNode{c.a, c.b} {
		p2p := open(node)
		_, err := p2p.WaitVideo(ctx)
		require.NoError(t, err, "the first console of node %s: video from the agent", node.url)
		assert.True(t, p2p.AgentVideo())
		relayed := open(node)
		require.NoError(t, relayed.WaitRelayedVideo(ctx), "the second console of node %s: video through the relay", node.url)
		assert.False(t, relayed.AgentVideo())
		before := relayed.RelayedPackets()
		require.Eventually(t, func() bool { return relayed.RelayedPackets() > before+10 }, 10*time.Second, 20*time.Millisecond,
			"the relayed video of node %s keeps flowing", node.url)
	}
	uplinks, err := scrapeMetric(c.a.url+"/metrics", "kvmrelay_fanout_uplinks")
	require.NoError(t, err)
	assert.Equal(t, 1.0, uplinks, "node A, first to relay the device, receives its stream from the agent")
	uplinks, err = scrapeMetric(c.b.url+"/metrics", "kvmrelay_fanout_uplinks")
	require.NoError(t, err)
	assert.Equal(t, 0.0, uplinks, "node B does not ask the agent for the stream node A holds")
	links, err := scrapeMetric(c.b.url+"/metrics", "kvmrelay_fanout_node_links")
	require.NoError(t, err)
	assert.Equal(t, 1.0, links, "node B receives the stream from node A")
	require.Eventually(t, func() bool { return testutil.ToFloat64(c.agent.VideoSessions) == 3 }, 10*time.Second, 20*time.Millisecond,
		"the agent uploads two peer-to-peer streams and one uplink for both nodes (now %v)", testutil.ToFloat64(c.agent.VideoSessions))
	assert.Equal(t, 1.0, testutil.ToFloat64(c.agent.Streams), "the agent encodes once")
}

// startFanoutCluster is startCluster with the agent's options o and extra `kvmrelay serve`
// flags for both nodes.
func startFanoutCluster(t *testing.T, o stackOptions, extra ...string) *cluster {
	t.Helper()
	f := startFanoutNodes(t, extra...)
	c := f.cluster
	tok, err := relay.AgentToken(c.issuer, "dev1", time.Hour)
	require.NoError(t, err)
	var stop func()
	c.device, c.agent, stop = startAgent(t, c.b.url, tok, o)
	t.Cleanup(stop)
	require.Eventually(t, func() bool {
		n, err := scrapeMetric(c.b.url+"/metrics", "kvmrelay_agents_connected")
		return err == nil && n == 1
	}, 15*time.Second, 50*time.Millisecond, "the agent never connected to node B")
	return c
}

// fanoutNodes are two `kvmrelay serve` nodes sharing PostgreSQL, Redis and the signing key,
// without an agent; databaseURL and keyDir let a test bootstrap organizations as
// `kvmrelay admin create` does (relay.CreateOwner).
type fanoutNodes struct {
	*cluster
	databaseURL, keyDir string
}

// startFanoutNodes starts two nodes with extra `kvmrelay serve` flags.
func startFanoutNodes(t *testing.T, extra ...string) *fanoutNodes {
	t.Helper()
	bin := buildRelay(t)
	var pg testenv.SharedPostgres
	srv := pg.Get(t)
	t.Cleanup(func() { _ = pg.Stop() })
	app := migrate(t, bin, srv.CreateDatabase(t))
	rs := testenv.StartRedis(t)
	keyDir := t.TempDir()
	keys, err := auth.LoadOrCreateKeyring(keyDir)
	require.NoError(t, err)
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Name: relay.IssuerName})
	require.NoError(t, err)
	key, err := os.ReadFile(filepath.Join(keyDir, auth.SigningKeyFile))
	require.NoError(t, err)
	c := &cluster{redis: rs, issuer: iss, a: startNode(t, bin, "a", key, app, rs.URL(), extra...), b: startNode(t, bin, "b", key, app, rs.URL(), extra...)}
	return &fanoutNodes{cluster: c, databaseURL: app, keyDir: keyDir}
}

// relayedBytes is what a console received over its relayed video connection (payload and
// headers, as the inbound RTP stats count).
func relayedBytes(con *testconsole.Console) uint64 {
	pc := con.RelayedVideoPeer()
	if pc == nil {
		return 0
	}
	var n uint64
	for _, s := range pc.GetStats() {
		if in, ok := s.(webrtc.InboundRTPStreamStats); ok && in.Kind == "video" {
			n += in.BytesReceived
		}
	}
	return n
}

// viewerWindow is what one console received during a measuring window.
type viewerWindow struct {
	frames int
	bytes  uint64
}

// measureViewers counts, for each console, the decodable frames and relayed bytes over d.
func measureViewers(cons []*testconsole.Console, d time.Duration) []viewerWindow {
	start := time.Now()
	before := make([]uint64, len(cons))
	for i, c := range cons {
		before[i] = relayedBytes(c)
	}
	time.Sleep(d)
	out := make([]viewerWindow, len(cons))
	for i, c := range cons {
		out[i] = viewerWindow{frames: c.DecodableFrames(start), bytes: relayedBytes(c) - before[i]}
	}
	return out
}

// nodeSum sums a metric over the nodes that answer.
func nodeSum(t *testing.T, name string, nodes ...*relayNode) float64 {
	t.Helper()
	var sum float64
	for _, n := range nodes {
		v, err := scrapeMetric(n.url+"/metrics", name)
		require.NoError(t, err, "%s of %s", name, n.url)
		sum += v
	}
	return sum
}

// TestFanoutFourViewersTwoNodes (issue 11): four consoles of one device, two on each of two
// relay nodes sharing Redis, every console's video relayed (--p2p-viewers 0). Node A, whose
// consoles come first, holds the device's stream (its lease in Redis) and receives it from
// the agent (on node B) once; node B receives it from node A over one node link: the agent
// uploads one stream for the whole deployment. One of node B's consoles sits behind a
// 300 kbit/s path: the three others still get at least 80% of the frames and bytes they got
// in the same window before it joined, while it gets fewer (keyframes only: its keyframe
// requests cross the node link to node A and reach the agent). Then node A hangs (SIGSTOP: it
// neither renews its lease nor releases it): node B takes the lease over once it expires,
// receives the stream from the agent itself, and its consoles get frames again without
// reconnecting.
func TestFanoutFourViewersTwoNodes(t *testing.T) {
	const (
		window    = 8 * time.Second
		tolerance = 0.8
		slowRate  = 300_000 // bit/s
	)
	// A picture that changes everywhere every frame: its stream needs more than the slow path.
	full, err := testpattern.New(testpattern.Config{Width: 640, Height: 360, FPS: 15, Motion: testpattern.MotionFull})
	require.NoError(t, err)
	t.Cleanup(func() { _ = full.Close() })
	c := startFanoutCluster(t, stackOptions{width: 640, height: 360, fps: 15, source: full.DeviceSource()}, "--p2p-viewers", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	open := func(node *relayNode, netw transport.Net) *testconsole.Console {
		link, err := relay.ConsoleLink(c.issuer, node.url, "dev1", "e2e")
		require.NoError(t, err)
		code, err := testconsole.CodeFromLink(link)
		require.NoError(t, err)
		con, err := testconsole.Open(ctx, testconsole.Config{Relay: node.url, Code: code, Receiver: true, Net: netw})
		require.NoError(t, err)
		t.Cleanup(con.Close)
		require.NoError(t, con.WaitChannels(ctx))
		require.NoError(t, con.WaitRelayedVideo(ctx), "a console of node %s: video through the relay", node.url)
		assert.False(t, con.AgentVideo(), "with --p2p-viewers 0 the agent sends consoles no video")
		return con
	}
	a1 := open(c.a, nil)
	a2 := open(c.a, nil)
	b1 := open(c.b, nil)
	fast := []*testconsole.Console{a1, a2, b1}

	require.Eventually(t, func() bool { return testutil.ToFloat64(c.agent.VideoSessions) == 1 }, 10*time.Second, 20*time.Millisecond,
		"the agent uploads one stream for consoles on two nodes (now %v)", testutil.ToFloat64(c.agent.VideoSessions))
	assert.Equal(t, 1.0, testutil.ToFloat64(c.agent.Streams), "the agent encodes once")
	uplinksA, err := scrapeMetric(c.a.url+"/metrics", "kvmrelay_fanout_uplinks")
	require.NoError(t, err)
	assert.Equal(t, 1.0, uplinksA, "node A, first to relay the device, receives it from the agent")
	uplinksB, err := scrapeMetric(c.b.url+"/metrics", "kvmrelay_fanout_uplinks")
	require.NoError(t, err)
	assert.Equal(t, 0.0, uplinksB, "node B asks the agent for nothing")
	linksB, err := scrapeMetric(c.b.url+"/metrics", "kvmrelay_fanout_node_links")
	require.NoError(t, err)
	assert.Equal(t, 1.0, linksB, "node B receives the stream from node A once")

	// The agent's encoder ramps up with the uplink's estimate: measure once its bitrate stopped
	// growing (two-second windows within 15% of each other), so that the baseline is the
	// stream's rate and not its ramp.
	prev := measureViewers(fast[2:], 2*time.Second)[0].bytes
	for range 10 {
		cur := measureViewers(fast[2:], 2*time.Second)[0].bytes
		if float64(cur) < 1.15*float64(prev) {
			break
		}
		prev = cur
	}
	baseline := measureViewers(fast, window)
	t.Logf("without the slow console: %+v", baseline)
	for i, w := range baseline {
		require.Greater(t, w.frames, 0, "fast console %d decodes frames", i)
	}

	// A second of buffer, as a last mile's router has: a keyframe fits, queued.
	shaped := newShapedNet(t, slowRate, time.Second)
	joined := time.Now()
	slow := open(c.b, shaped)
	// Let the slow console's estimate settle before measuring.
	time.Sleep(3 * time.Second)
	with := measureViewers(append(fast, slow), window)
	t.Logf("with the slow console: %+v (the shaped path dropped %d of %d packets; the slow console asked for %d keyframes)",
		with, shaped.dropped.Load(), shaped.packets.Load(), slow.KeyframeRequests())
	for i, w := range with[:len(fast)] {
		assert.GreaterOrEqual(t, float64(w.frames), tolerance*float64(baseline[i].frames),
			"fast console %d keeps its frame rate beside the slow one (%d frames, %d before)", i, w.frames, baseline[i].frames)
		assert.GreaterOrEqual(t, float64(w.bytes), tolerance*float64(baseline[i].bytes),
			"fast console %d keeps its bitrate beside the slow one (%d bytes, %d before)", i, w.bytes, baseline[i].bytes)
	}
	slowW := with[len(fast)]
	// A keyframe takes the slow path seconds: count what it decoded since it joined.
	require.Eventually(t, func() bool { return slow.DecodableFrames(joined) > 0 }, 20*time.Second, 50*time.Millisecond,
		"the slow console sees frames too")
	assert.Less(t, slowW.frames, with[2].frames, "the slow console gets fewer frames than its node's fast one")
	assert.Less(t, slowW.bytes, with[2].bytes, "the slow console gets less than its node's fast one")
	assert.LessOrEqual(t, float64(slowW.bytes)*8/window.Seconds(), 1.2*slowRate, "the slow console's video fits its path")
	assert.Equal(t, 1.0, testutil.ToFloat64(c.agent.VideoSessions), "still one stream from the agent")
	assert.Equal(t, 1.0, nodeSum(t, "kvmrelay_fanout_uplinks", c.a, c.b), "one uplink for the deployment")

	// Node A hangs: no lease renewal, no release. Node B takes over once the lease expires.
	require.NoError(t, c.a.cmd.Process.Signal(syscall.SIGSTOP))
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = c.a.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // before the node's own cleanup stops it
	require.Eventually(t, func() bool {
		v, err := scrapeMetric(c.b.url+"/metrics", "kvmrelay_fanout_uplinks")
		return err == nil && v == 1
	}, 30*time.Second, 50*time.Millisecond, "node B receives the stream from the agent once node A's lease expired")
	for i, con := range []*testconsole.Console{b1, slow} {
		since := time.Now()
		require.Eventually(t, func() bool { return con.DecodableFrames(since) > 5 }, 30*time.Second, 50*time.Millisecond,
			"node B's console %d decodes frames again", i)
		assert.Equal(t, 1, con.RelayedOffers(), "node B's console %d kept its video connection", i)
	}
	resume()
}

// shapedNet is the real network with a narrow downlink: every UDP socket's incoming packets
// pass a rate-limited queue (a last mile of rate bit/s with a buffer of maxDelay): packets
// wait their turn, and those that would wait longer are dropped, as a bottleneck router does.
type shapedNet struct {
	transport.Net
	rate     float64
	maxDelay time.Duration
	packets  atomic.Int64
	dropped  atomic.Int64

	mu    sync.Mutex
	conns []*shapedConn
}

func newShapedNet(t *testing.T, rate float64, maxDelay time.Duration) *shapedNet {
	t.Helper()
	n, err := stdnet.NewNet()
	require.NoError(t, err)
	s := &shapedNet{Net: n, rate: rate, maxDelay: maxDelay}
	// pion leaves a socket or two of a closed connection open: close what is left, with the
	// goroutines reading it.
	t.Cleanup(func() {
		s.mu.Lock()
		conns := s.conns
		s.mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return s
}

func (n *shapedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return n.shape(c), nil
}

func (n *shapedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	if u, ok := c.(*net.UDPConn); ok {
		return n.shape(u), nil
	}
	return c, nil
}

// shapedConn is a UDP socket whose reads come through its net's queue.
type shapedConn struct {
	transport.UDPConn
	out    chan shapedPacket
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

type shapedPacket struct {
	b    []byte
	from net.Addr
	at   time.Time
}

func (n *shapedNet) shape(c transport.UDPConn) *shapedConn {
	s := &shapedConn{UDPConn: c, out: make(chan shapedPacket, 4096), closed: make(chan struct{})}
	n.mu.Lock()
	n.conns = append(n.conns, s)
	n.mu.Unlock()
	queued := make(chan shapedPacket, 4096)
	// The reader puts each packet in the queue with its time out of the bottleneck; the
	// deliverer hands it over at that time. Both end when the socket closes.
	s.wg.Go(func() {
		defer close(queued)
		var free time.Time // when the bottleneck is free again
		buf := make([]byte, 1500)
		for {
			k, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			n.packets.Add(1)
			now := time.Now()
			start := free
			if start.Before(now) {
				start = now
			}
			if start.Sub(now) > n.maxDelay {
				n.dropped.Add(1)
				continue
			}
			free = start.Add(time.Duration(float64(k*8) / n.rate * float64(time.Second)))
			select {
			case queued <- shapedPacket{b: append([]byte(nil), buf[:k]...), from: from, at: free}:
			default:
				n.dropped.Add(1)
			}
		}
	})
	s.wg.Go(func() {
		for p := range queued {
			if d := time.Until(p.at); d > 0 {
				time.Sleep(d)
			}
			select {
			case s.out <- p:
			case <-s.closed:
			}
		}
	})
	return s
}

func (s *shapedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-s.out:
		return copy(b, p.b), p.from, nil
	case <-s.closed:
		return 0, nil, net.ErrClosed
	}
}

func (s *shapedConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	k, from, err := s.ReadFrom(b)
	if err != nil {
		return 0, nil, err
	}
	u, _ := from.(*net.UDPAddr)
	return k, u, nil
}

func (s *shapedConn) Read(b []byte) (int, error) {
	k, _, err := s.ReadFrom(b)
	return k, err
}

func (s *shapedConn) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		err = s.UDPConn.Close()
		s.wg.Wait()
	})
	return err
}
