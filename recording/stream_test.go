package recording

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/mediatest"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
)

// testFPS is the frame rate of the test streams.
const testFPS = 30

// segment is a stretch of a test stream at one size.
type segment struct {
	width, height, frames int
	// keyEvery forces a keyframe every so many frames (0: only the first).
	keyEvery int
	bitrate  int
}

// encodedFrame is one frame of a test stream: its RTP packets, and whether the encoder made
// it a keyframe.
type encodedFrame struct {
	packets []*rtp.Packet
	key     bool
}

// testStream encodes the repo's test pattern with the repo's H.264 encoder (x264) and cuts it
// into RTP packets with pion's payloader, as the agent does: one numbering and one 90 kHz
// clock across the segments, a new encoder at each (a BIOS switching mode).
func testStream(tb testing.TB, segments ...segment) []encodedFrame {
	tb.Helper()
	clock := mediatest.NewClock(time.Unix(1_700_000_000, 0))
	packetizer := rtp.NewPacketizer(1200, 102, 0x1234abcd, &codecs.H264Payloader{}, rtp.NewFixedSequencer(65000), clockRate)
	var out []encodedFrame
	for _, sg := range segments {
		bitrate := sg.bitrate
		if bitrate == 0 {
			bitrate = 1_000_000
		}
		enc, err := encoders.New(media.EncoderConfig{
			Codec: media.CodecH264, Width: sg.width, Height: sg.height, FPS: testFPS,
			StartBitrate: bitrate, MinBitrate: bitrate, MaxBitrate: bitrate, Threads: 1, Clock: clock,
		})
		if errors.Is(err, media.ErrCodecUnavailable) {
			tb.Skip("H.264 encoder not in this build (cgo, libx264)")
		}
		require.NoError(tb, err)
		src, err := testpattern.New(testpattern.Config{Width: sg.width, Height: sg.height, FPS: testFPS, Motion: testpattern.MotionFull, Clock: clock})
		require.NoError(tb, err)
		for i := range sg.frames {
			if sg.keyEvery > 0 && i > 0 && i%sg.keyEvery == 0 {
				enc.ForceKeyFrame()
			}
			f, err := src.Next(context.Background())
			require.NoError(tb, err)
			ef, err := enc.Encode(f)
			require.NoError(tb, err)
			require.NotEmpty(tb, ef.Data, "x264 returns every frame at once (zerolatency)")
			out = append(out, encodedFrame{packets: packetizer.Packetize(ef.Data, clockRate/testFPS), key: ef.Keyframe})
			clock.Advance(time.Second / testFPS)
		}
		require.NoError(tb, src.Close())
		require.NoError(tb, enc.Close())
	}
	return out
}

// keyframes counts the stream's keyframes.
func keyframes(frames []encodedFrame) int {
	n := 0
	for _, f := range frames {
		if f.key {
			n++
		}
	}
	return n
}

// newTestRecorder starts a recorder in a fresh directory.
func newTestRecorder(t *testing.T, cfg Config) *Recorder {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.ID == "" {
		cfg.ID = "rec-1"
	}
	if cfg.Codec == "" {
		cfg.Codec = "video/H264"
	}
	r, err := New(cfg)
	require.NoError(t, err)
	return r
}

// record feeds every packet of frames to r, except those skip says to leave out, and
// closes it.
func record(t *testing.T, r *Recorder, frames []encodedFrame, skip func(frame, packet int) bool) Summary {
	t.Helper()
	for i, f := range frames {
		for j, p := range f.packets {
			if skip != nil && skip(i, j) {
				continue
			}
			require.NoError(t, r.WriteRTP(p))
		}
	}
	s, err := r.Close()
	require.NoError(t, err)
	return s
}
