package encoders_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/internal/synth"
	"github.com/kvmrelay/kvmrelay/media/mediatest"
)

var codecs = []media.Codec{media.CodecH264, media.CodecVP8}

func newEncoder(t testing.TB, cfg media.EncoderConfig) media.Encoder {
	t.Helper()
	enc, err := encoders.New(cfg)
	if errors.Is(err, media.ErrCodecUnavailable) {
		testenv.Missing(t, string(cfg.Codec)+" encoder (cgo with libx264/libvpx)",
			"apt-get install -y libx264-dev libvpx-dev pkg-config, build with CGO_ENABLED=1")
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, enc.Close()) })
	return enc
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []media.EncoderConfig{
		{Codec: "video/AV1", Width: 640, Height: 360},
		{Codec: media.CodecH264, Width: 641, Height: 360},
		{Codec: media.CodecVP8, Width: 640, Height: 0},
		{Codec: media.CodecVP8, Width: 640, Height: 360, MinBitrate: 2_000_000, MaxBitrate: 1_000_000},
	} {
		_, err := encoders.New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}

func TestKeyframeThrottleEndToEnd(t *testing.T) {
	for _, codec := range codecs {
		t.Run(string(codec), func(t *testing.T) {
			clk := mediatest.NewClock(time.Unix(1000, 0))
			enc := newEncoder(t, media.EncoderConfig{Codec: codec, Width: 640, Height: 360, Threads: 1, Clock: clk})
			src := synth.NewMotion(640, 360, 5)
			encode := func() bool {
				clk.Advance(50 * time.Millisecond)
				out, err := enc.Encode(media.Frame{Image: src.Next(), CaptureTime: clk.Now()})
				require.NoError(t, err)
				require.NotEmpty(t, out.Data)
				return out.Keyframe
			}
			require.True(t, encode(), "first frame")
			enc.ForceKeyFrame()
			require.True(t, encode(), "connect: at once")
			enc.ForceKeyFrame()
			keys := 0
			for range 9 { // 450 ms: still throttled
				if encode() {
					keys++
				}
			}
			assert.Zero(t, keys)
			assert.True(t, encode(), "500 ms after the last keyframe, the held request goes out")
			assert.False(t, encode())
		})
	}
}

// measure encodes n frames spaced by interval and returns the bitrate they make, skipping the
// first skip frames (the keyframe and rate control settling).
func measure(t *testing.T, enc media.Encoder, src *synth.Motion, at *time.Time, interval time.Duration, n, skip int) int {
	t.Helper()
	bits := 0
	for i := range n {
		*at = at.Add(interval)
		out, err := enc.Encode(media.Frame{Image: src.Next(), CaptureTime: *at})
		require.NoError(t, err)
		if i >= skip {
			bits += 8 * len(out.Data)
		}
	}
	return int(float64(bits) / (time.Duration(n-skip) * interval).Seconds())
}

func TestBitrateTracksTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes ~1000 frames")
	}
	const (
		w, h = 320, 180
		hi   = 320_000
		lo   = 120_000
	)
	for _, codec := range codecs {
		t.Run(string(codec), func(t *testing.T) {
			enc := newEncoder(t, media.EncoderConfig{
				Codec: codec, Width: w, Height: h, FPS: 30, Threads: 1,
				StartBitrate: hi, MinBitrate: 50_000,
			})
			src := synth.NewMotion(w, h, 6)
			src.Noise = 12
			at := time.Unix(1000, 0)
			frame := time.Second / 30

			high := measure(t, enc, src, &at, frame, 180, 60)
			enc.SetBitrate(lo)
			low := measure(t, enc, src, &at, frame, 180, 60)
			enc.SetBitrate(hi)
			back := measure(t, enc, src, &at, frame, 180, 60)
			// A damage-driven burst: 120 frames a second for 2 s at the same target.
			burst := measure(t, enc, src, &at, frame/4, 300, 60)
			t.Logf("%s: %d→%d  %d→%d  %d→%d  %d@120fps→%d bps", codec, hi, high, lo, low, hi, back, hi, burst)

			// Loose bounds: the encoder must follow the target, not hit it exactly.
			assert.InEpsilon(t, hi, high, 0.5)
			assert.InEpsilon(t, lo, low, 0.5)
			assert.InEpsilon(t, hi, back, 0.5)
			assert.InEpsilon(t, hi, burst, 0.6, "bitrate must not scale with the frame rate")
			assert.Less(t, low, high*2/3)
			assert.Greater(t, back, low*3/2)
		})
	}
}
