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
