package fanout

import (
	"testing"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling"
)

// TestViewersDecodes: a console is relayed only when it decodes every codec the hub may
// receive (the agent picks one of them for the uplink).
func TestViewersDecodes(t *testing.T) {
	hub, err := New(Config{Uplinks: (*signaling.Server)(nil), Logger: quiet()})
	require.NoError(t, err)
	defer hub.Close()
	vs, err := NewViewers(ViewersConfig{Hub: hub, Logger: quiet()})
	require.NoError(t, err)
	defer vs.Close()
	tests := []struct {
		codecs []string
		want   bool
	}{
		{codecs: []string{webrtc.MimeTypeH264, webrtc.MimeTypeVP8}, want: true},
		{codecs: []string{"video/vp8", "video/h264", "video/AV1"}, want: true},
		{codecs: []string{webrtc.MimeTypeVP8}, want: false},
		{codecs: []string{webrtc.MimeTypeH264}, want: false},
		{codecs: nil, want: false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, vs.Decodes(tt.codecs), "%v", tt.codecs)
	}
}
