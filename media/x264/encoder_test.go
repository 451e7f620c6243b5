package x264_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/h264"
	"github.com/kvmrelay/kvmrelay/media/internal/synth"
	"github.com/kvmrelay/kvmrelay/media/x264"
)

func newEncoder(t testing.TB, cfg x264.Config) *x264.Encoder {
	t.Helper()
	enc, err := x264.New(cfg)
	if errors.Is(err, media.ErrCodecUnavailable) {
		testenv.Missing(t, "libx264 (cgo)", "apt-get install -y libx264-dev pkg-config, build with CGO_ENABLED=1")
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, enc.Close()) })
	return enc
}

func nalTypes(au []byte) []int {
	var types []int
	for _, n := range h264.SplitAnnexB(au) {
		types = append(types, h264.NALType(n))
	}
	return types
}

func TestConstrainedBaseline(t *testing.T) {
	sizes := []struct{ w, h int }{{1280, 720}, {1920, 1080}, {640, 360}}
	for _, sz := range sizes {
		t.Run("", func(t *testing.T) {
			enc := newEncoder(t, x264.Config{Width: sz.w, Height: sz.h, FPS: 30, Bitrate: 2_000_000, Threads: 1})
			src := synth.NewMotion(sz.w, sz.h, 1)
			out, err := enc.Encode(media.Frame{Image: src.Next(), CaptureTime: time.Unix(1, 0)})
			require.NoError(t, err)
			require.True(t, out.Keyframe, "first frame is a keyframe")
			require.Equal(t, time.Unix(1, 0), out.CaptureTime)

			nals := h264.SplitAnnexB(out.Data)
			require.NotEmpty(t, nals)
			require.Equal(t, h264.NALSPS, h264.NALType(nals[0]), "Annex-B AU starts with the SPS: %v", nalTypes(out.Data))
			sps, err := h264.ParseSPS(nals[0])
			require.NoError(t, err)
			assert.Equal(t, h264.ProfileBaseline, sps.ProfileIDC)
			assert.NotZero(t, sps.Constraints&0x40, "constraint_set1 (constrained baseline)")
			assert.True(t, sps.ConstrainedBaseline())
			assert.Equal(t, sz.w, sps.Width)
			assert.Equal(t, sz.h, sps.Height)
			t.Logf("%dx%d profile-level-id %s", sz.w, sz.h, sps.ProfileLevelID())
			assert.Contains(t, nalTypes(out.Data), h264.NALPPS)
			assert.Contains(t, nalTypes(out.Data), h264.NALIDRSlice)
		})
	}
}

func TestForceKeyFrame(t *testing.T) {
	enc := newEncoder(t, x264.Config{Width: 640, Height: 360, FPS: 30, Bitrate: 1_000_000, Threads: 1})
	src := synth.NewMotion(640, 360, 2)
	at := time.Unix(100, 0)
	encode := func() media.EncodedFrame {
		at = at.Add(time.Second / 30)
		out, err := enc.Encode(media.Frame{Image: src.Next(), CaptureTime: at})
		require.NoError(t, err)
		require.NotEmpty(t, out.Data, "every frame comes out at once: no lookahead, no B-frames")
		return out
	}
	encode()
	for i := range 5 {
		out := encode()
		assert.False(t, out.Keyframe, "frame %d", i)
		assert.Equal(t, []int{h264.NALSlice}, uniq(nalTypes(out.Data)), "P slices only")
	}
	enc.ForceKeyFrame()
	out := encode()
	require.True(t, out.Keyframe)
	types := nalTypes(out.Data)
	require.GreaterOrEqual(t, len(types), 3)
	assert.Equal(t, []int{h264.NALSPS, h264.NALPPS}, types[:2], "SPS and PPS repeated before the IDR")
	assert.Equal(t, []int{h264.NALIDRSlice}, uniq(types[2:]))
	assert.False(t, encode().Keyframe, "one forced keyframe per request")
}

func uniq(xs []int) []int {
	var out []int
	for _, x := range xs {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	return out
}

func TestEncodeRejectsWrongFrames(t *testing.T) {
	enc := newEncoder(t, x264.Config{Width: 640, Height: 360, FPS: 30, Bitrate: 1_000_000, Threads: 1})
	_, err := enc.Encode(media.Frame{Image: synth.NewMotion(320, 240, 1).Next()})
	assert.Error(t, err)
	_, err = enc.Encode(media.Frame{})
	assert.Error(t, err)
	require.NoError(t, enc.Close())
	_, err = enc.Encode(media.Frame{Image: synth.NewMotion(640, 360, 1).Next()})
	assert.ErrorIs(t, err, media.ErrClosed)
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []x264.Config{
		{Width: 641, Height: 360, FPS: 30, Bitrate: 1_000_000},
		{Width: 640, Height: 360, FPS: 0, Bitrate: 1_000_000},
		{Width: 640, Height: 360, FPS: 30, Bitrate: 100},
		{Width: 640, Height: 360, FPS: 30, Bitrate: 1_000_000, Preset: "warp-speed"},
	} {
		_, err := x264.New(cfg)
		if errors.Is(err, media.ErrCodecUnavailable) {
			testenv.Missing(t, "libx264 (cgo)", "apt-get install -y libx264-dev pkg-config")
		}
		assert.Error(t, err, "%+v", cfg)
	}
}

func TestKeyframeFitsRateBuffer(t *testing.T) {
	// 500 kbps with a 200 ms buffer: no frame may exceed 100 kbit (12.5 kB), or the network
	// queue holds more than 200 ms behind it. A noisy IDR would be far larger unconstrained.
	enc := newEncoder(t, x264.Config{Width: 640, Height: 360, FPS: 30, Bitrate: 500_000,
		RateBuffer: 200 * time.Millisecond, Threads: 1})
	src := synth.NewMotion(640, 360, 9)
	src.Noise = 20
	at := time.Unix(100, 0)
	for i := range 40 {
		if i%10 == 0 {
			enc.ForceKeyFrame()
		}
		at = at.Add(time.Second / 30)
		out, err := enc.Encode(media.Frame{Image: src.Next(), CaptureTime: at})
		require.NoError(t, err)
		assert.LessOrEqual(t, len(out.Data), 12_500*11/10, "frame %d (keyframe %v)", i, out.Keyframe)
	}
}
