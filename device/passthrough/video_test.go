package passthrough_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/device/passthrough"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/h264"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// unit is a fake access unit named by its first byte: 'K' keyframes, 'P' others.
func unit(name string) h264.Unit {
	return h264.Unit{Data: []byte(name), Keyframe: name[0] == 'K'}
}

// pushed starts a Video whose reader pushes units and then waits for Close.
func pushed(t *testing.T, cfg passthrough.Config, names ...string) *passthrough.Video {
	t.Helper()
	done := make(chan struct{})
	v := passthrough.Start(cfg, func(ctx context.Context, v *passthrough.Video) error {
		for _, n := range names {
			v.Push(unit(n), testTime)
		}
		close(done)
		<-ctx.Done()
		return nil
	})
	t.Cleanup(func() { _ = v.Close() })
	<-done
	return v
}

func drain(t *testing.T, v *passthrough.Video) []string {
	t.Helper()
	var got []string
	for {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // only what is queued
		f, err := v.Next(ctx)
		if err != nil {
			return got
		}
		require.Equal(t, media.CodecH264, f.Encoded.Codec)
		require.Equal(t, f.Encoded.Keyframe, f.Encoded.Data[0] == 'K')
		got = append(got, string(f.Encoded.Data))
	}
}

func TestVideoSlowConsumer(t *testing.T) {
	tests := []struct {
		name  string
		units []string
		want  []string
	}{
		{"fits", []string{"K0", "P1", "P2", "P3"}, []string{"K0", "P1", "P2", "P3"}},
		{"no IDR queued: skip to the next", []string{"K0", "P1", "P2", "P3", "P4", "P5", "K6", "P7"}, []string{"K6", "P7"}},
		{"keep from the newest queued IDR", []string{"K0", "P1", "K2", "P3", "P4"}, []string{"K2", "P3", "P4"}},
		{"an incoming IDR replaces the queue", []string{"K0", "P1", "P2", "P3", "K4", "P5"}, []string{"K4", "P5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := pushed(t, passthrough.Config{MaxFrames: 4}, tt.units...)
			assert.Equal(t, tt.want, drain(t, v))
		})
	}
	t.Run("bytes", func(t *testing.T) {
		v := pushed(t, passthrough.Config{MaxBytes: 7}, "K0", "P1", "P2", "P3", "K4")
		assert.Equal(t, []string{"K4"}, drain(t, v))
	})
}

func TestVideoFails(t *testing.T) {
	boom := errors.New("connection reset")
	v := passthrough.Start(passthrough.Config{}, func(ctx context.Context, v *passthrough.Video) error {
		v.Push(unit("K0"), testTime)
		return boom
	})
	defer v.Close()
	<-v.Done()
	f, err := v.Next(context.Background())
	require.NoError(t, err, "queued units come first")
	assert.Equal(t, "K0", string(f.Encoded.Data))
	_, err = v.Next(context.Background())
	assert.ErrorIs(t, err, boom)
}

func TestVideoClose(t *testing.T) {
	v := pushed(t, passthrough.Config{})
	require.NoError(t, v.Close())
	_, err := v.Next(context.Background())
	assert.ErrorIs(t, err, media.ErrClosed)
	<-v.Done()
}

func TestVideoKeyframeRequests(t *testing.T) {
	asked := 0
	sps := h264.SPS{ProfileIDC: 66, Constraints: 0xc0, LevelIDC: 31, Width: 1280, Height: 720}
	v := pushed(t, passthrough.Config{RequestKeyframe: func() { asked++ }, KeyframeMinInterval: 1 << 62, SPS: &sps})
	v.RequestKeyframe()
	v.RequestKeyframe()
	assert.Equal(t, 1, asked, "throttled")
	id, ok := v.ProfileLevelID()
	assert.True(t, ok)
	assert.Equal(t, "42c01f", id)
	w, h := v.Size()
	assert.Equal(t, [2]int{1280, 720}, [2]int{w, h})
	assert.Equal(t, media.CodecH264, v.Codec())
	var _ media.EncodedSource = v
}

// TestForwarderNoIDR: a stream that never sends a usable IDR (intra refresh, or an IDR without
// parameter sets) fails once the wait exceeds FirstIDRTimeout, measured in the units' times.
func TestForwarderNoIDR(t *testing.T) {
	p := [][]byte{{0x41, 0x9a, 0x02, 0x03}} // a P slice
	v := pushed(t, passthrough.Config{})
	fwd := &passthrough.Forwarder{Video: v, FirstIDRTimeout: time.Second}
	require.NoError(t, fwd.Forward(p, testTime))
	require.NoError(t, fwd.Forward(p, testTime.Add(time.Second)))
	err := fwd.Forward(p, testTime.Add(time.Second+1))
	require.ErrorIs(t, err, passthrough.ErrNoKeyframe)
	assert.Contains(t, err.Error(), "keyframe interval")
	assert.Empty(t, drain(t, v))
}
