package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testconsole"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
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
// Redis and PostgreSQL, the agent on node B. Each node relays the video of its consoles past
// the first (--p2p-viewers counts per node) from an uplink of its own, whose signaling crosses
// Redis like a console's: every console sees frames, and the agent uploads two streams per node
// that has consoles (one peer to peer, one uplink).
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
		uplinks, err := scrapeMetric(node.url+"/metrics", "kvmrelay_fanout_uplinks")
		require.NoError(t, err)
		assert.Equal(t, 1.0, uplinks, "node %s receives the device's stream once", node.url)
	}
	require.Eventually(t, func() bool { return testutil.ToFloat64(c.agent.VideoSessions) == 4 }, 10*time.Second, 20*time.Millisecond,
		"the agent uploads a peer-to-peer stream and an uplink per node (now %v)", testutil.ToFloat64(c.agent.VideoSessions))
	assert.Equal(t, 1.0, testutil.ToFloat64(c.agent.Streams), "the agent encodes once")
}
