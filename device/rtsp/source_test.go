package rtsp_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/rtsp"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/h264"
)

func nalTypes(annexB []byte) []int {
	var types []int
	for _, n := range h264.SplitAnnexB(annexB) {
		types = append(types, h264.NALType(n))
	}
	return types
}

type profiled interface {
	ProfileLevelID() (string, bool)
}

// TestGStreamer plays GStreamer's RTSP server over TCP and UDP: its SPS and PPS are only in the
// SDP (rtph264pay without config-interval), yet the first unit is an IDR with both in front,
// and the profile-level-id and size are known on connecting.
func TestGStreamer(t *testing.T) {
	spec, _ := gstServer(t, "key-int-max=30 bframes=0", "video/x-h264,profile=constrained-baseline")
	for _, transport := range []string{"", "?transport=udp"} {
		t.Run("transport"+transport, func(t *testing.T) {
			src := newSource(t, spec+transport, device.Options{})
			assert.Equal(t, media.CodecH264, src.(device.Encoded).Codec())
			conn := open(t, src)
			w, h := conn.Video.(device.Sized).Size()
			assert.Equal(t, [2]int{640, 360}, [2]int{w, h}, "known from the SDP")
			id, ok := conn.Video.(profiled).ProfileLevelID()
			require.True(t, ok)
			assert.Equal(t, "42c01e", id)
			keys := 0
			for i := range 40 {
				f, err := conn.Video.Next(context.Background())
				require.NoError(t, err)
				types := nalTypes(f.Encoded.Data)
				if i == 0 {
					require.True(t, f.Encoded.Keyframe, "the first unit is an IDR")
				}
				if f.Encoded.Keyframe {
					keys++
					require.GreaterOrEqual(t, len(types), 3)
					assert.Equal(t, []int{h264.NALSPS, h264.NALPPS}, types[:2])
					assert.Contains(t, types, h264.NALIDRSlice)
				} else {
					assert.NotContains(t, types, h264.NALIDRSlice)
				}
			}
			assert.GreaterOrEqual(t, keys, 1)
		})
	}
}

// TestGStreamerKeyframeRequest: with a 10 s GOP, RequestKeyframe's RTCP PLI makes GStreamer's
// server send an IDR long before the next periodic one.
func TestGStreamerKeyframeRequest(t *testing.T) {
	spec, _ := gstServer(t, "key-int-max=300 bframes=0", "video/x-h264,profile=constrained-baseline")
	conn := open(t, newSource(t, spec, device.Options{}))
	enc := conn.Video.(media.EncodedSource)
	f, err := conn.Video.Next(context.Background())
	require.NoError(t, err)
	require.True(t, f.Encoded.Keyframe)
	for range 10 {
		f, err = conn.Video.Next(context.Background())
		require.NoError(t, err)
		require.False(t, f.Encoded.Keyframe)
	}
	enc.RequestKeyframe()
	got := -1
	for i := range 200 { // the periodic IDR is 300 frames apart
		f, err = conn.Video.Next(context.Background())
		require.NoError(t, err)
		if f.Encoded.Keyframe {
			got = i
			break
		}
	}
	require.GreaterOrEqual(t, got, 0, "no IDR after the PLI")
	assert.Equal(t, []int{h264.NALSPS, h264.NALPPS}, nalTypes(f.Encoded.Data)[:2])
}

// TestGStreamerBFrames: a Main profile stream with B-frames is refused with a clear error.
func TestGStreamerBFrames(t *testing.T) {
	spec, _ := gstServer(t, "key-int-max=30 bframes=2 b-adapt=false", "video/x-h264,profile=main")
	conn := open(t, newSource(t, spec, device.Options{}))
	var err error
	for range 100 {
		if _, err = conn.Video.Next(context.Background()); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, h264.ErrBFrames)
	id, _ := conn.Video.(profiled).ProfileLevelID()
	assert.Equal(t, "4d", id[:2])
}

// TestGStreamerDropped: the server going away makes Next fail (the supervisor reconnects).
func TestGStreamerDropped(t *testing.T) {
	spec, cmd := gstServer(t, "key-int-max=30 bframes=0", "video/x-h264,profile=constrained-baseline")
	conn := open(t, newSource(t, spec, device.Options{}))
	for range 3 {
		_, err := conn.Video.Next(context.Background())
		require.NoError(t, err)
	}
	require.NoError(t, cmd.Process.Kill())
	var err error
	for range 1000 {
		if _, err = conn.Video.Next(context.Background()); err != nil {
			break
		}
	}
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.Canceled)
	<-conn.Video.(device.Watched).Done()
}

// TestGStreamerAuth: credentials from the URL or from KVMAGENT_RTSP_PASSWORD; a wrong or
// missing password says what to do.
func TestGStreamerAuth(t *testing.T) {
	spec, _ := gstServer(t, "key-int-max=30 bframes=0", "video/x-h264,profile=constrained-baseline", "admin", "s3cret")
	u, err := url.Parse(spec)
	require.NoError(t, err)
	withUser := func(ui *url.Userinfo) string {
		v := *u
		v.User = ui
		return v.String()
	}
	lookup := func(name string) (string, bool) { return "s3cret", name == rtsp.PasswordVar }

	_, err = newSource(t, spec, device.Options{}).Open(context.Background())
	require.ErrorIs(t, err, rtsp.ErrUnauthorized)
	assert.Contains(t, err.Error(), rtsp.PasswordVar)

	src := newSource(t, withUser(url.UserPassword("admin", "wrong")), device.Options{})
	assert.NotContains(t, src.String(), "wrong")
	_, err = src.Open(context.Background())
	require.ErrorIs(t, err, rtsp.ErrUnauthorized)
	assert.Contains(t, err.Error(), "wrong user or password")
	assert.NotContains(t, err.Error(), "wrong@")

	for _, s := range []device.Source{
		newSource(t, withUser(url.UserPassword("admin", "s3cret")), device.Options{}),
		newSource(t, withUser(url.User("admin")), device.Options{Lookup: lookup}),
	} {
		conn := open(t, s)
		f, err := conn.Video.Next(context.Background())
		require.NoError(t, err)
		assert.True(t, f.Encoded.Keyframe)
		require.NoError(t, conn.Video.Close())
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := newSource(t, "rtsp://127.0.0.1:1/x", device.Options{}).Open(context.Background())
	assert.Contains(t, err.Error(), "check the host and port")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = newSource(t, "rtsp://127.0.0.1:1/x", device.Options{}).Open(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestNewSource(t *testing.T) {
	tests := []struct{ spec, str string }{
		{"rtsp://admin:pw@cam:554/Streaming/Channels/101", "rtsp://admin@cam:554/Streaming/Channels/101"},
		{"rtsp://cam/live?channel=1&transport=udp", "rtsp://cam/live?channel=1&transport=udp"},
		{"rtsp://cam/live?transport=TCP", "rtsp://cam/live"},
		{"rtsps://cam/live", "rtsps://cam/live"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.str, newSource(t, tt.spec, device.Options{}).String())
	}
	for _, bad := range []string{"rtsp://cam/x?transport=sctp", "rtsps://cam/x?transport=udp", "rtsp:opaque", "http://cam/x"} {
		u, err := device.ParseSpec(bad)
		require.NoError(t, err)
		_, err = rtsp.NewSource(u, device.Options{})
		assert.Error(t, err, bad)
	}
}
