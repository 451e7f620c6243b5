package agent

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// offerOf is the SDP of the offer the agent sent sid.
func offerOf(t *testing.T, msgs []sentMsg, sid string) string {
	t.Helper()
	for _, m := range msgs {
		if m.sid == sid && m.typ == wire.TypeOffer {
			return m.data.(wire.SDP).SDP
		}
	}
	require.Failf(t, "no offer", "the agent sent %s no offer", sid)
	return ""
}

// TestSessionKinds: a console whose video the relay forwards gets the data channels and no
// video; the relay's uplink gets video only and stays off the roster; an older relay's
// session-start (no video field) gets both. The encoder runs once, and only for sessions
// with video.
func TestSessionKinds(t *testing.T) {
	tests := []struct {
		name        string
		start       wire.SessionStart
		wantVideo   bool
		wantData    bool
		wantRoster  bool
		wantStreams float64
	}{
		{name: "older relay", start: wire.SessionStart{Codecs: []string{"video/H264"}, Principal: "p", Name: "Ann"},
			wantVideo: true, wantData: true, wantRoster: true, wantStreams: 1},
		{name: "console without video", start: wire.SessionStart{Codecs: []string{"video/H264"}, Principal: "p", Name: "Ann", Video: wire.Bool(false)},
			wantData: true, wantRoster: true},
		{name: "relay uplink", start: wire.SessionStart{Codecs: []string{"video/H264"}, Principal: "relay", Uplink: true},
			wantVideo: true, wantStreams: 1},
		{name: "uplink without video is refused", start: wire.SessionStart{Codecs: []string{"video/H264"}, Principal: "relay", Uplink: true, Video: wire.Bool(false)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSharedHarness(t)
			const sid = "s_kind"
			h.handle(t, wire.TypeSessionStart, sid, tt.start)
			t.Cleanup(func() {
				if s := h.a.session(sid); s != nil {
					s.end("test over")
				}
			})
			msgs := h.relay.take()
			refused := tt.start.CheckKind() != nil
			if refused {
				assert.Nil(t, h.a.session(sid), "no session for a refused session-start")
				assert.Empty(t, msgs)
				return
			}
			require.NotNil(t, h.a.session(sid))
			offer := offerOf(t, msgs, sid)
			assert.Equal(t, tt.wantVideo, strings.Contains(offer, "m=video"), "video m-line")
			assert.Equal(t, tt.wantData, strings.Contains(offer, "m=application"), "data channels m-line")
			_, onRoster := rostersOf(msgs)[sid]
			assert.Equal(t, tt.wantRoster, onRoster, "roster sent to the session")
			h.m.floor.mu.Lock()
			_, participant := h.m.floor.parts[sid]
			h.m.floor.mu.Unlock()
			assert.Equal(t, tt.wantRoster, participant, "participant of the machine")
			assert.Equal(t, tt.wantStreams, testutil.ToFloat64(h.metrics.Streams))
			assert.Equal(t, tt.wantStreams, testutil.ToFloat64(h.metrics.VideoSessions))

			h.a.session(sid).end("test over")
			assert.Zero(t, testutil.ToFloat64(h.metrics.Streams), "the encoder stops with its last viewer")
			assert.Zero(t, testutil.ToFloat64(h.metrics.VideoSessions))
		})
	}
}

// TestSessionKindsShareOneEncoder: consoles without video do not hold the encoder; the uplink
// and one console with video share one.
func TestSessionKindsShareOneEncoder(t *testing.T) {
	h := newSharedHarness(t)
	starts := map[string]wire.SessionStart{
		"s_p2p": {Codecs: []string{"video/H264"}, Principal: "p", Name: "Ann"},
		"up_1":  {Codecs: []string{"video/H264"}, Principal: "relay", Uplink: true},
		"s_r1":  {Codecs: []string{"video/H264"}, Principal: "p", Name: "Bob", Video: wire.Bool(false)},
		"s_r2":  {Codecs: []string{"video/H264"}, Principal: "p", Name: "Cy", Video: wire.Bool(false)},
	}
	for sid, start := range starts {
		h.handle(t, wire.TypeSessionStart, sid, start)
	}
	t.Cleanup(func() {
		for sid := range starts {
			if s := h.a.session(sid); s != nil {
				s.end("test over")
			}
		}
	})
	assert.Equal(t, 1.0, testutil.ToFloat64(h.metrics.Streams))
	assert.Equal(t, 2.0, testutil.ToFloat64(h.metrics.VideoSessions))
	assert.Equal(t, 4.0, testutil.ToFloat64(h.metrics.Sessions))
	h.m.floor.mu.Lock()
	n := len(h.m.floor.parts)
	h.m.floor.mu.Unlock()
	assert.Equal(t, 3, n, "every console is a participant, the uplink is not")
}
