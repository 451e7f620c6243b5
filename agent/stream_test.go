package agent

import (
	"context"
	"hash/maphash"
	"image"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media"
)

// fakeFrames hands out the frames queued on it; Refresh is counted.
type fakeFrames struct {
	frames    chan media.Frame
	mu        sync.Mutex
	refreshed int
}

func (f *fakeFrames) Next(ctx context.Context) (media.Frame, error) {
	select {
	case <-ctx.Done():
		return media.Frame{}, ctx.Err()
	case fr := <-f.frames:
		return fr, nil
	}
}

func (f *fakeFrames) Refresh() { f.mu.Lock(); f.refreshed++; f.mu.Unlock() }

// fakeEncoder records what it was built with and what it encoded.
type fakeEncoder struct {
	cfg    media.EncoderConfig
	mu     sync.Mutex
	frames int
	forced int
	closed bool
	bps    int
}

func (e *fakeEncoder) Encode(f media.Frame) (media.EncodedFrame, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w, h := f.Size(); w != e.cfg.Width || h != e.cfg.Height {
		return media.EncodedFrame{}, assert.AnError
	}
	e.frames++
	return media.EncodedFrame{Data: []byte{0, 0, 0, 1, 0x65, 1}, Keyframe: e.frames == 1}, nil
}
func (e *fakeEncoder) ForceKeyFrame()     { e.mu.Lock(); e.forced++; e.mu.Unlock() }
func (e *fakeEncoder) SetBitrate(bps int) { e.mu.Lock(); e.bps = bps; e.mu.Unlock() }
func (e *fakeEncoder) Close() error       { e.mu.Lock(); e.closed = true; e.mu.Unlock(); return nil }

type fakeEncoders struct {
	mu    sync.Mutex
	built []*fakeEncoder
}

func (f *fakeEncoders) New(cfg media.EncoderConfig) (media.Encoder, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := &fakeEncoder{cfg: cfg}
	f.built = append(f.built, e)
	return e, nil
}

func (f *fakeEncoders) all() []*fakeEncoder {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fakeEncoder(nil), f.built...)
}

func raw(w, h int) media.Frame {
	return media.Frame{Image: image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420), CaptureTime: time.Now()}
}

// eventually polls cond; the stream's goroutine does the work.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, msg)
}

// A BIOS switching from 720×400 text mode to 1024×768: the stream reopens its encoder at the
// new size (a new encoder's first frame is a keyframe), at the bitrate the network allows,
// and drops nothing.
func TestStreamReopensTheEncoderWhenTheSizeChanges(t *testing.T) {
	src := &fakeFrames{frames: make(chan media.Frame)}
	encs := &fakeEncoders{}
	st, err := startStream(src, encs.New, media.EncoderConfig{Codec: media.CodecH264, FPS: 30}, encoderProfileID, slog.Default(), NewMetrics(nil))
	require.NoError(t, err)
	defer st.stop()

	src.frames <- raw(720, 400)
	src.frames <- raw(720, 400)
	st.setBitrate("s1", 700_000)
	src.frames <- raw(1024, 768)
	src.frames <- raw(1024, 768)
	eventually(t, func() bool {
		b := encs.all()
		if len(b) != 2 {
			return false
		}
		b[1].mu.Lock()
		defer b[1].mu.Unlock()
		return b[1].frames >= 1
	}, "a second encoder, at the new size")
	src.frames <- raw(1024, 768) // the stream took the 4th frame; this one proves it was encoded
	built := encs.all()
	require.Len(t, built, 2)
	assert.Equal(t, [2]int{720, 400}, [2]int{built[0].cfg.Width, built[0].cfg.Height})
	assert.Equal(t, [2]int{1024, 768}, [2]int{built[1].cfg.Width, built[1].cfg.Height})
	built[0].mu.Lock()
	assert.Equal(t, 2, built[0].frames, "every frame of the old size was encoded")
	assert.True(t, built[0].closed, "the old encoder was closed")
	built[0].mu.Unlock()
	assert.Equal(t, 700_000, built[1].cfg.StartBitrate, "the new encoder starts at the estimate, not cold")
	require.NoError(t, built[1].cfg.Validate())

	st.requestKeyframe()
	built[1].mu.Lock()
	assert.Equal(t, 1, built[1].forced)
	built[1].mu.Unlock()
	src.mu.Lock()
	assert.Equal(t, 1, src.refreshed, "the source is asked for a picture at once")
	src.mu.Unlock()
}

// Frames a source delivers encoded bypass the encoder; the no-signal card between them is
// encoded.
func TestStreamPassesEncodedFramesThrough(t *testing.T) {
	src := &fakeFrames{frames: make(chan media.Frame)}
	encs := &fakeEncoders{}
	metrics := NewMetrics(nil)
	st, err := startStream(src, encs.New, media.EncoderConfig{Codec: media.CodecH264, FPS: 30}, encoderProfileID, slog.Default(), metrics)
	require.NoError(t, err)
	defer st.stop()

	au := &media.EncodedFrame{Codec: media.CodecH264, Data: []byte{0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x65, 0x88}, Keyframe: true}
	src.frames <- media.Frame{Encoded: au, CaptureTime: time.Now()}
	src.frames <- media.Frame{Encoded: &media.EncodedFrame{Codec: media.CodecVP8, Data: []byte{1}}, CaptureTime: time.Now()}
	src.frames <- raw(640, 360) // the card while the camera reconnects
	src.frames <- raw(640, 360)
	eventually(t, func() bool {
		b := encs.all()
		if len(b) != 1 {
			return false
		}
		b[0].mu.Lock()
		defer b[0].mu.Unlock()
		return b[0].frames >= 1
	}, "the card is encoded")
	assert.Len(t, encs.all(), 1, "passthrough frames never built an encoder")
	eventually(t, func() bool { return testutil.ToFloat64(metrics.Frames.WithLabelValues("key")) == 2 },
		"the source's keyframe was sent, the other codec's frame dropped, the card's first frame is key")
}

// BenchmarkLookAt1080p is what telling a changed frame costs the stream, per 1080p frame.
func BenchmarkLookAt1080p(b *testing.B) {
	img := raw(1920, 1080).Image
	seed := maphash.MakeSeed()
	for b.Loop() {
		lookAt(seed, img)
	}
}
