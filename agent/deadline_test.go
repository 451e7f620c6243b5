package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestConnectDeadline: a console session that is not usable by the deadline ends, and the
// console is told why. Usable means connected with its input channels open: a connection
// whose SCTP association never comes up (an INIT that gave up on a lossy path; here, a console
// that rejects the data channels' m-section) would play video while no key reaches the machine.
func TestConnectDeadline(t *testing.T) {
	tests := []struct {
		name      string
		answer    bool
		wantCause string
	}{
		{name: "never answered", wantCause: "not connected within"},
		{name: "connected without input channels", answer: true, wantCause: "the input channels did not open within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSharedHarness(t)
			h.a.cfg.ConnectTimeout = 3 * time.Second
			const sid = "s_deadline"
			h.handle(t, wire.TypeSessionStart, sid, wire.SessionStart{Codecs: []string{"video/H264"}, Principal: "p", Name: "Ann"})
			require.NotNil(t, h.a.session(sid))
			if tt.answer {
				connectRejectingData(t, h, sid)
			}
			var bye *wire.Bye
			require.Eventually(t, func() bool {
				for _, m := range h.relay.take() {
					if m.sid == sid && m.typ == wire.TypeBye {
						b := m.data.(wire.Bye)
						bye = &b
					}
				}
				return bye != nil
			}, 10*time.Second, 20*time.Millisecond, "the console was never told")
			assert.Contains(t, bye.Reason, tt.wantCause)
			assert.Nil(t, h.a.session(sid), "the session is gone")
		})
	}
}

// connectRejectingData answers the agent's offer for sid from a console peer that takes the
// video and rejects the data channels, and trickles candidates both ways until it connects.
func connectRejectingData(t *testing.T, h *sharedHarness, sid string) {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	msgs := h.relay.take()
	require.NoError(t, pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerOf(t, msgs, sid)}))
	answer, err := pc.CreateAnswer(nil)
	require.NoError(t, err)
	gathered := webrtc.GatheringCompletePromise(pc)
	require.NoError(t, pc.SetLocalDescription(answer))
	<-gathered
	sdp := pc.LocalDescription().SDP
	require.Contains(t, sdp, "m=application 9 ")
	sdp = strings.Replace(sdp, "m=application 9 ", "m=application 0 ", 1)
	h.handle(t, wire.TypeAnswer, sid, wire.SDP{SDP: sdp})
	add := func(ms []sentMsg) {
		for _, m := range ms {
			if c, ok := m.data.(wire.Candidate); ok && m.sid == sid && c.Candidate != "" {
				_ = pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex})
			}
		}
	}
	add(msgs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		select {
		case <-connected:
			return
		case <-ctx.Done():
			t.Fatal("the console never connected to the agent")
		case <-time.After(20 * time.Millisecond):
			add(h.relay.take())
		}
	}
}
