package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
)

// TestAgentReconnectsAfterRelayRestart: the relay goes away and comes back on the same
// address; the agent reconnects by itself and new consoles work.
func TestAgentReconnectsAfterRelayRestart(t *testing.T) {
	s := newStack(t, stackOptions{width: 640, height: 360, fps: 15})
	s.stopRelay()
	s.startRelay(t)
	s.waitAgent(t)

	c, ctx := openGoConsole(t, s, testconsole.Config{})
	require.NoError(t, c.WaitChannels(ctx))
	down, err := hid.Encode(hid.KeyMsg{Usage: 0x04, Down: true})
	require.NoError(t, err)
	require.NoError(t, c.SendHID(down))
	require.Eventually(t, func() bool { return s.device.KeyDownCount() == 1 }, 5*time.Second, 5*time.Millisecond)
}

// TestVP8Fallback: a console that cannot decode H.264 gets VP8.
func TestVP8Fallback(t *testing.T) {
	s := newStack(t, stackOptions{width: 640, height: 360, fps: 15})
	c, ctx := openGoConsole(t, s, testconsole.Config{Codecs: []string{"video/VP8"}})
	_, err := c.WaitVideo(ctx)
	require.NoError(t, err)
	var codec string
	for _, tr := range c.PeerConnection().GetTransceivers() {
		if r := tr.Receiver(); r != nil && r.Track() != nil {
			codec = r.Track().Codec().MimeType
		}
	}
	require.Equal(t, "video/VP8", codec)
}
