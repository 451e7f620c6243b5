package vpx_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/internal/synth"
	"github.com/kvmrelay/kvmrelay/media/vpx"
)

func newEncoder(t testing.TB, cfg vpx.Config) *vpx.Encoder {
	t.Helper()
	enc, err := vpx.New(cfg)
	if errors.Is(err, media.ErrCodecUnavailable) {
		testenv.Missing(t, "libvpx (cgo)", "apt-get install -y libvpx-dev pkg-config, build with CGO_ENABLED=1")
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, enc.Close()) })
	return enc
}

// vp8Key parses the VP8 frame header (RFC 6386 §9.1): a keyframe has bit 0 of the frame tag
// clear, the start code 9d 01 2a, and its size.
func vp8Key(t *testing.T, frame []byte) (key bool, w, h int) {
	t.Helper()
	require.GreaterOrEqual(t, len(frame), 3)
	if frame[0]&1 != 0 {
		return false, 0, 0
	}
	require.GreaterOrEqual(t, len(frame), 10)
	require.Equal(t, []byte{0x9d, 0x01, 0x2a}, frame[3:6], "keyframe start code")
	return true, int(binary.LittleEndian.Uint16(frame[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(frame[8:]) & 0x3fff)
}

func TestForceKeyFrame(t *testing.T) {
	enc := newEncoder(t, vpx.Config{Width: 640, Height: 360, FPS: 30, Bitrate: 1_000_000, Threads: 1})
	src := synth.NewMotion(640, 360, 3)
	at := time.Unix(100, 0)
	encode := func() media.EncodedFrame {
		at = at.Add(time.Second / 30)
		out, err := enc.Encode(media.Frame{Image: src.Next(), CaptureTime: at})
		require.NoError(t, err)
		require.NotEmpty(t, out.Data, "every frame comes out at once: no lag")
		assert.Equal(t, at, out.CaptureTime)
		return out
	}

	first := encode()
	require.True(t, first.Keyframe)
	key, w, h := vp8Key(t, first.Data)
	require.True(t, key)
	assert.Equal(t, []int{640, 360}, []int{w, h})

	for i := range 40 { // past any automatic keyframe distance: there must be none
		out := encode()
		assert.False(t, out.Keyframe, "frame %d", i)
		key, _, _ := vp8Key(t, out.Data)
		assert.False(t, key, "frame %d bitstream", i)
	}
	enc.ForceKeyFrame()
	out := encode()
	assert.True(t, out.Keyframe)
	key, _, _ = vp8Key(t, out.Data)
	assert.True(t, key)
	assert.False(t, encode().Keyframe, "one forced keyframe per request")
}

func TestEncodeRejectsWrongFrames(t *testing.T) {
	enc := newEncoder(t, vpx.Config{Width: 640, Height: 360, FPS: 30, Bitrate: 1_000_000, Threads: 1})
	_, err := enc.Encode(media.Frame{Image: synth.NewMotion(320, 240, 1).Next()})
	assert.Error(t, err)
	require.NoError(t, enc.Close())
	_, err = enc.Encode(media.Frame{Image: synth.NewMotion(640, 360, 1).Next()})
	assert.ErrorIs(t, err, media.ErrClosed)
}

func TestRepeatedAndMissingCaptureTimes(t *testing.T) {
	enc := newEncoder(t, vpx.Config{Width: 640, Height: 360, FPS: 30, Bitrate: 1_000_000, Threads: 1})
	src := synth.NewMotion(640, 360, 4)
	same := time.Unix(5, 0)
	for _, at := range []time.Time{same, same, {}, same, same.Add(time.Millisecond)} {
		_, err := enc.Encode(media.Frame{Image: src.Next(), CaptureTime: at})
		require.NoError(t, err, "timestamps must stay strictly increasing for libvpx")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []vpx.Config{
		{Width: 641, Height: 360, FPS: 30, Bitrate: 1_000_000},
		{Width: 640, Height: 360, FPS: 0, Bitrate: 1_000_000},
		{Width: 640, Height: 360, FPS: 30, Bitrate: 100},
		{Width: 640, Height: 360, FPS: 30, Bitrate: 1_000_000, CPUUsed: 2},
	} {
		_, err := vpx.New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}
