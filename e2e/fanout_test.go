package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testconsole"
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
