package recording

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/sfu"
)

// newForwarder is the relay's forwarder for an H.264 device, counting the keyframes it asks
// the device for.
func newForwarder(t *testing.T) (*sfu.Forwarder, *atomic.Int32) {
	t.Helper()
	var asked atomic.Int32
	f, err := sfu.NewForwarder(sfu.Config{
		Codec:             sfu.VideoCodecs("")[0].RTPCodecCapability,
		OnKeyframeRequest: func() { asked.Add(1) },
		KeyframeInterval:  time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(f.Close)
	return f, &asked
}

// TestAttachRecordsForwarder: a recorder attached to the relay's forwarder asks for a
// keyframe, starts at the next one, and records the stream as sent from there.
func TestAttachRecordsForwarder(t *testing.T) {
	frames := testStream(t, segment{width: 640, height: 360, frames: 4 * testFPS, keyEvery: testFPS})
	f, asked := newForwarder(t)
	r := newTestRecorder(t, Config{})

	feed := func(from, to int, skip func(i, j int) bool) {
		for i := from; i < to; i++ {
			for j, p := range frames[i].packets {
				if skip == nil || !skip(i, j) {
					require.NoError(t, f.WriteRTP(p.Clone()))
				}
			}
		}
	}
	feed(0, 10, nil) // before the recording: not in it
	a, err := Attach(f, r)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return asked.Load() >= 1 }, 5*time.Second, time.Millisecond, "the attached recorder asks for a keyframe")

	// A packet lost in frame 70 (keyframes at 30, 60, 90): frames 70–89 are not recorded,
	// and the recorder asks for a keyframe through its viewer.
	// (The keyframe at 90 may come before the forwarder's throttle lets the request out:
	// it is counted as asked either way.)
	before := f.Stats().KeyframeRequestsAsked
	feed(10, len(frames), func(i, j int) bool { return i == 70 && j == 1 })
	require.Eventually(t, func() bool { return f.Stats().KeyframeRequestsAsked > before }, 5*time.Second, time.Millisecond,
		"the loss asks the forwarder for a keyframe")
	a.Close()
	s, err := r.Close()
	require.NoError(t, err)
	assert.Equal(t, int64(0), a.Stats().Overflow)

	want := len(frames) - 30 - 20
	assert.Equal(t, want, s.Frames)
	assert.Equal(t, 1, s.LostPackets)
	assert.Equal(t, 3, s.Keyframes)
	p := ffprobe(t, s.Video.Path)
	assert.Equal(t, want, p.frames(t))
	span := time.Duration(len(frames)-30) * time.Second / testFPS
	assert.True(t, within(p.duration(t), span, 0.05), "ffprobe duration %v, span %v", p.duration(t), span)
}

func TestAttachRefusesVP8(t *testing.T) {
	f, err := sfu.NewForwarder(sfu.Config{Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	require.NoError(t, err)
	defer f.Close()
	r := newTestRecorder(t, Config{})
	_, err = Attach(f, r)
	require.ErrorIs(t, err, ErrCodecNotRecordable)
	_, err = r.Close()
	require.NoError(t, err)
}
