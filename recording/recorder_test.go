package recording

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// within reports whether got is within frac of want.
func within(got, want time.Duration, frac float64) bool {
	d := float64(got - want)
	return d >= -frac*float64(want) && d <= frac*float64(want)
}

func TestRecordPassesFFprobe(t *testing.T) {
	frames := testStream(t, segment{width: 640, height: 360, frames: 5 * testFPS, keyEvery: 2 * testFPS})
	r := newTestRecorder(t, Config{})
	s := record(t, r, frames, nil)

	span := time.Duration(len(frames)) * time.Second / testFPS
	assert.Equal(t, len(frames), s.Frames)
	assert.Equal(t, keyframes(frames), s.Keyframes)
	assert.Equal(t, 3, s.Keyframes, "the first frame and one every 2 s")
	assert.Equal(t, span, s.Duration)
	assert.Zero(t, s.Dropped)
	assert.Equal(t, []Format{{At: 0, Width: 640, Height: 360}}, s.Formats)

	p := ffprobe(t, s.Video.Path)
	st := p.Streams[0]
	assert.Equal(t, "h264", st.CodecName)
	assert.Equal(t, 640, st.Width)
	assert.Equal(t, 360, st.Height)
	assert.Equal(t, len(frames), p.frames(t), "every frame sent is in the file")
	assert.True(t, within(p.duration(t), span, 0.05), "ffprobe duration %v, capture span %v", p.duration(t), span)
	assert.Equal(t, strconv.FormatInt(s.Video.Size, 10), p.Format.Size)
	assert.Equal(t, keyframes(frames), p.keyPackets(), "sync samples are the keyframes")

	b, err := os.ReadFile(s.Video.Path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	assert.Equal(t, hex.EncodeToString(sum[:]), s.Video.SHA256, "the digest kept while writing is the file's")
	assert.Equal(t, int64(len(b)), s.Video.Size)
	t.Logf("ffprobe: %d frames, duration %v, %d bytes", p.frames(t), p.duration(t), s.Video.Size)
}

// TestRecordResolutionChange: a BIOS switching mode mid-session (640×360, then 800×600 from a
// new encoder) stays one file. ffprobe reports the stream at its first size (the init
// segment's SPS) and decodes every frame of both, the second size from the SPS each
// keyframe carries in band; the timeline and the summary say where the size changed.
func TestRecordResolutionChange(t *testing.T) {
	frames := testStream(t,
		segment{width: 640, height: 360, frames: 2 * testFPS},
		segment{width: 800, height: 600, frames: 2 * testFPS},
	)
	r := newTestRecorder(t, Config{})
	s := record(t, r, frames, nil)

	require.Equal(t, len(frames), s.Frames)
	assert.Equal(t, []Format{{At: 0, Width: 640, Height: 360}, {At: 2 * time.Second, Width: 800, Height: 600}}, s.Formats)
	p := ffprobe(t, s.Video.Path)
	st := p.Streams[0]
	assert.Equal(t, "h264", st.CodecName)
	assert.Equal(t, 640, st.Width, "ffprobe reports the first size")
	assert.Equal(t, 360, st.Height)
	assert.Equal(t, len(frames), p.frames(t), "frames of both sizes decode")
	span := time.Duration(len(frames)) * time.Second / testFPS
	assert.True(t, within(p.duration(t), span, 0.05), "ffprobe duration %v, span %v", p.duration(t), span)
	assert.Equal(t, 2, p.keyPackets())

	lines := readTimeline(t, s.Timeline.Path)
	var videos []line
	for _, l := range lines {
		if l.Kind == KindVideo {
			videos = append(videos, l)
		}
	}
	require.Len(t, videos, 2)
	assert.Equal(t, int64(2000), *videos[1].PTSMS)
	assert.Equal(t, 800, videos[1].Width)
	assert.Equal(t, 600, videos[1].Height)
}

// TestRecordPacketLoss: a frame missing a packet is not written, nor anything after it until
// the next keyframe; the recorder asks for one; the file still decodes cleanly.
func TestRecordPacketLoss(t *testing.T) {
	frames := testStream(t, segment{width: 640, height: 360, frames: 3 * testFPS, keyEvery: testFPS})
	const lossAt = 40 // a delta frame; keyframes at 0, 30, 60
	require.False(t, frames[lossAt].key)
	require.True(t, frames[60].key)
	require.Greater(t, len(frames[lossAt].packets), 0)

	r := newTestRecorder(t, Config{})
	select {
	case <-r.KeyframeNeeded():
		t.Fatal("a keyframe is asked for before anything was lost")
	default:
	}
	for i, f := range frames {
		for j, p := range f.packets {
			if i == lossAt && j == len(f.packets)/2 {
				continue
			}
			require.NoError(t, r.WriteRTP(p))
		}
		if i == 50 {
			// The gap is given up on once the packets after it span ReorderWait (250 ms,
			// 7.5 frames) of stream time: at frame 48.
			select {
			case <-r.KeyframeNeeded():
			default:
				t.Fatal("no keyframe asked for after a loss")
			}
			assert.True(t, r.Stats().WaitingForKeyframe)
		}
	}
	s, err := r.Close()
	require.NoError(t, err)

	dropped := 60 - lossAt // frame 40 and the 19 after it that depend on it
	assert.Equal(t, dropped, s.Dropped)
	assert.Equal(t, len(frames)-dropped, s.Frames)
	assert.Equal(t, 1, s.LostPackets)
	p := ffprobe(t, s.Video.Path)
	assert.Equal(t, len(frames)-dropped, p.frames(t))
	span := time.Duration(len(frames)) * time.Second / testFPS
	assert.True(t, within(p.duration(t), span, 0.05), "the picture freezes over the gap, time goes on: ffprobe %v, span %v", p.duration(t), span)

	var gaps int
	for _, l := range readTimeline(t, s.Timeline.Path) {
		if l.Kind == KindGap {
			gaps++
			assert.Equal(t, int64(lossAt*1000/testFPS), *l.PTSMS, "the picture freezes at the last whole frame's end")
		}
	}
	assert.Equal(t, 1, gaps)
}

// TestRecordReordered: packets that arrive out of order within the wait (a NACKed
// retransmission) are put back in place: nothing is dropped.
func TestRecordReordered(t *testing.T) {
	frames := testStream(t, segment{width: 640, height: 360, frames: testFPS})
	var pkts []*rtpPacketRef
	for _, f := range frames {
		for _, p := range f.packets {
			pkts = append(pkts, &rtpPacketRef{p})
		}
	}
	// Packet 10 arrives 3 frames late, after packets of the frames that follow.
	late := pkts[10]
	pkts = append(pkts[:10:10], pkts[11:]...)
	pkts = append(pkts[:25:25], append([]*rtpPacketRef{late}, pkts[25:]...)...)
	r := newTestRecorder(t, Config{})
	for _, p := range pkts {
		require.NoError(t, r.WriteRTP(p.p))
	}
	s, err := r.Close()
	require.NoError(t, err)
	assert.Equal(t, len(frames), s.Frames)
	assert.Zero(t, s.Dropped)
	assert.Zero(t, s.LostPackets)
	assert.Equal(t, len(frames), ffprobe(t, s.Video.Path).frames(t))
}
