package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSessionStartKind(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		wantVideo bool
		wantErr   bool
	}{
		{name: "older relay: video", raw: `{"ice_servers":[],"codecs":["h264"],"principal":"p"}`, wantVideo: true},
		{name: "video true", raw: `{"ice_servers":[],"codecs":["h264"],"principal":"p","video":true}`, wantVideo: true},
		{name: "data channels only", raw: `{"ice_servers":[],"codecs":["h264"],"principal":"p","video":false}`, wantVideo: false},
		{name: "uplink", raw: `{"ice_servers":[],"codecs":["h264"],"principal":"relay","uplink":true}`, wantVideo: true},
		{name: "uplink without video", raw: `{"ice_servers":[],"codecs":["h264"],"principal":"relay","uplink":true,"video":false}`, wantVideo: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Decode([]byte(`{"v":1,"type":"session-start","sid":"s_1","data":` + tt.raw + `}`))
			require.NoError(t, err)
			var s SessionStart
			require.NoError(t, DecodeData(env, &s))
			assert.Equal(t, tt.wantVideo, s.WantsVideo())
			if tt.wantErr {
				assert.ErrorIs(t, s.CheckKind(), ErrBadMessage)
			} else {
				assert.NoError(t, s.CheckKind())
			}
		})
	}
}

// TestSessionStartRoundTrip: an absent Video is not sent (older agents read the same bytes).
func TestSessionStartRoundTrip(t *testing.T) {
	raw, err := Encode(TypeSessionStart, "s_1", SessionStart{Principal: "p"})
	require.NoError(t, err)
	assert.NotContains(t, string(raw), `"video"`)
	assert.NotContains(t, string(raw), `"uplink"`)
	raw, err = Encode(TypeSessionStart, "s_1", SessionStart{Principal: "p", Video: Bool(false)})
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"video":false`)
}

// TestRelayedVideoTypes: the relayed viewer's messages are of this version, carry an SDP or a
// candidate like their agent counterparts, and nothing else passes.
func TestRelayedVideoTypes(t *testing.T) {
	tests := []struct {
		raw     string
		into    any
		wantErr error
	}{
		{raw: `{"v":1,"type":"video-offer","sid":"s_1","data":{"sdp":"v=0"}}`, into: &SDP{}},
		{raw: `{"v":1,"type":"video-answer","sid":"s_1","data":{"sdp":"v=0"}}`, into: &SDP{}},
		{raw: `{"v":1,"type":"video-candidate","sid":"s_1","data":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0"}}`, into: &Candidate{}},
		{raw: `{"v":1,"type":"video-candidate","sid":"s_1","data":{"candidate":""}}`, into: &Candidate{}},
		{raw: `{"v":1,"type":"video-answer","sid":"s_1","data":{"sdp":"v=0","peer":"relay"}}`, into: &SDP{}, wantErr: ErrBadMessage},
		{raw: `{"v":1,"type":"video-stream","sid":"s_1","data":{}}`, wantErr: ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			env, err := Decode([]byte(tt.raw))
			if err == nil && tt.into != nil {
				err = DecodeData(env, tt.into)
			}
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			assert.NoError(t, err)
		})
	}
}
