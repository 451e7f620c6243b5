package encoders_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/encoders"
	"github.com/kvmrelay/kvmrelay/media/mediatest"
)

// fakeEncoder makes a keyframe first and whenever forced, and remembers the bitrate.
type fakeEncoder struct {
	mu      sync.Mutex
	force   bool
	frames  int
	bitrate int
	closed  bool
}

func (f *fakeEncoder) Encode(fr media.Frame) (media.EncodedFrame, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := f.frames == 0 || f.force
	f.force = false
	f.frames++
	return media.EncodedFrame{Data: []byte{1}, Keyframe: key, CaptureTime: fr.CaptureTime}, nil
}

func (f *fakeEncoder) ForceKeyFrame() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.force = true
}

func (f *fakeEncoder) SetBitrate(bps int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bitrate = bps
}

func (f *fakeEncoder) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func TestKeyframeThrottle(t *testing.T) {
	clk := mediatest.NewClock(time.Unix(1000, 0))
	enc := encoders.Wrap(&fakeEncoder{}, media.EncoderConfig{Width: 640, Height: 360, Clock: clk})

	// Each step: advance the clock, maybe request, encode one frame, expect a keyframe or not.
	steps := []struct {
		advance time.Duration
		request bool
		key     bool
	}{
		{0, false, true},                    // the encoder's own first keyframe
		{33 * time.Millisecond, true, true}, // viewer connects: at once, despite the keyframe 33 ms ago
		{33 * time.Millisecond, false, false},
		{100 * time.Millisecond, true, false}, // PLI 133 ms later: held
		{100 * time.Millisecond, true, false}, // another PLI: folded in
		{266 * time.Millisecond, false, false},
		{1 * time.Millisecond, false, true}, // 500 ms after the last keyframe
		{33 * time.Millisecond, false, false},
		{time.Second, true, true},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if s.request {
			enc.ForceKeyFrame()
		}
		out, err := enc.Encode(media.Frame{CaptureTime: clk.Now()})
		require.NoError(t, err)
		assert.Equal(t, s.key, out.Keyframe, "step %d", i)
	}
}

func TestPeriodicKeyframes(t *testing.T) {
	clk := mediatest.NewClock(time.Unix(1000, 0))
	enc := encoders.Wrap(&fakeEncoder{}, media.EncoderConfig{
		Width: 640, Height: 360, Clock: clk, KeyframeInterval: 2 * time.Second,
	})
	keys := 0
	for range 300 { // 10 s at 30 fps
		out, err := enc.Encode(media.Frame{})
		require.NoError(t, err)
		if out.Keyframe {
			keys++
		}
		clk.Advance(time.Second / 30)
	}
	assert.Equal(t, 5, keys, "the first, then one every 2 s")
}

func TestBitrateClamps(t *testing.T) {
	fake := &fakeEncoder{}
	enc := encoders.Wrap(fake, media.EncoderConfig{
		Width: 1280, Height: 720, StartBitrate: 1_000_000, MinBitrate: 200_000, MaxBitrate: 3_000_000,
	})
	tests := []struct{ set, want int }{
		{10_000, 200_000}, // GCC's start: never starve the picture
		{500_000, 500_000},
		{50_000_000, 3_000_000},
		{-1, 200_000},
	}
	for _, tt := range tests {
		enc.SetBitrate(tt.set)
		fake.mu.Lock()
		assert.Equal(t, tt.want, fake.bitrate, "SetBitrate(%d)", tt.set)
		fake.mu.Unlock()
	}
	require.NoError(t, enc.Close())
	assert.True(t, fake.closed)
}

func TestControlsFromOtherGoroutines(t *testing.T) {
	enc := encoders.Wrap(&fakeEncoder{}, media.EncoderConfig{Width: 640, Height: 360})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			enc.ForceKeyFrame()
			enc.SetBitrate(100_000 + i)
		}
	})
	for range 1000 {
		_, err := enc.Encode(media.Frame{})
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
}
