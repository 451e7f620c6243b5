package agent

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media"
)

func TestChooseCodec(t *testing.T) {
	pref := []media.Codec{media.CodecH264, media.CodecVP8}
	for _, tc := range []struct {
		name    string
		console []string
		want    media.Codec
		err     bool
	}{
		{"both: H.264 preferred", []string{"video/VP8", "video/H264"}, media.CodecH264, false},
		{"case-insensitive", []string{"video/h264"}, media.CodecH264, false},
		{"VP8 only", []string{"video/VP8", "video/AV1"}, media.CodecVP8, false},
		{"nothing in common", []string{"video/AV1"}, "", true},
		{"empty", nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseCodec(pref, tc.console)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestAgentURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":      "ws://127.0.0.1:8080/ws/agent",
		"https://relay.example.com/": "wss://relay.example.com/ws/agent",
		"https://example.com/kvm":    "wss://example.com/kvm/ws/agent",
		"wss://relay.example.com":    "wss://relay.example.com/ws/agent",
	} {
		got, err := agentURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"", "relay.example.com", "ftp://x", "http://"} {
		_, err := agentURL(bad)
		assert.Error(t, err, bad)
	}
}

// TestLatencyExtensions checks that video packets carry playout-delay 0/0 on every packet and
// abs-capture-time on the first packet of each frame, with the frame's capture time.
func TestLatencyExtensions(t *testing.T) {
	clock := &captureClock{}
	type answer struct {
		probes []uint32
		ts     uint32
	}
	var answers []answer
	ic, err := latencyExtensionsFactory{clock: clock, sid: "s1", onAnswer: func(p []uint32, ts uint32) {
		answers = append(answers, answer{p, ts})
	}}.NewInterceptor("")
	require.NoError(t, err)
	var got []*rtp.Header
	sink := interceptor.RTPWriterFunc(func(h *rtp.Header, _ []byte, _ interceptor.Attributes) (int, error) {
		c := h.Clone()
		got = append(got, &c)
		return 0, nil
	})
	w := ic.BindLocalStream(&interceptor.StreamInfo{RTPHeaderExtensions: []interceptor.RTPHeaderExtension{
		{URI: playoutDelayURI, ID: 5}, {URI: absCaptureTimeURI, ID: 6},
	}}, sink)
	captured := time.Unix(1_800_000_000, 123_000_000)
	clock.set(captured, probeAnswers{"s1": {7, 8}, "s2": {9}})
	for i, ts := range []uint32{1000, 1000} {
		h := &rtp.Header{Version: 2, Timestamp: ts, SequenceNumber: uint16(i)}
		_, err := w.Write(h, []byte{1}, nil)
		require.NoError(t, err)
	}
	clock.set(captured.Add(time.Second), nil)
	_, err = w.Write(&rtp.Header{Version: 2, Timestamp: 4000, SequenceNumber: 2}, []byte{1}, nil)
	require.NoError(t, err)
	assert.Equal(t, []answer{{[]uint32{7, 8}, 1000}}, answers, "the session's probes, once, with the frame's RTP timestamp")
	require.Len(t, got, 3)
	for _, h := range got {
		assert.Equal(t, []byte{0, 0, 0}, h.GetExtension(5), "playout-delay min=max=0")
	}
	var act rtp.AbsCaptureTimeExtension
	require.NoError(t, act.Unmarshal(got[0].GetExtension(6)))
	assert.WithinDuration(t, captured, act.CaptureTime(), time.Millisecond)
	assert.Nil(t, got[1].GetExtension(6), "second packet of the same frame")
	assert.NotNil(t, got[2].GetExtension(6), "first packet of the next frame")

	// Not negotiated: packets pass untouched.
	plain := ic.BindLocalStream(&interceptor.StreamInfo{}, sink)
	got = nil
	_, err = plain.Write(&rtp.Header{Version: 2}, nil, nil)
	require.NoError(t, err)
	assert.Empty(t, got[0].Extensions)
}
