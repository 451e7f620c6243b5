package recording

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecordDiskFull: the disk filling up mid-recording (the video file's writes fail with
// ENOSPC, as /dev/full makes them) fails the recording at once with a clear error, closes
// Failed, refuses more packets, and Close still summarizes what was written.
func TestRecordDiskFull(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	frames := testStream(t, segment{width: 640, height: 360, frames: 3 * testFPS})
	r := newTestRecorder(t, Config{})
	const before = 40 // the first fragment (30 frames) is on disk, the second in memory
	for _, f := range frames[:before] {
		for _, p := range f.packets {
			require.NoError(t, r.WriteRTP(p))
		}
	}
	select {
	case <-r.Failed():
		t.Fatal("failed before anything failed")
	default:
	}
	// The disk fills: the next write goes nowhere.
	r.mu.Lock()
	realFile := r.mp4.f
	r.mp4.f = full
	r.mu.Unlock()
	require.NoError(t, realFile.Close())

	var werr error
	for _, f := range frames[before:] {
		for _, p := range f.packets {
			if werr = r.WriteRTP(p); werr != nil {
				break
			}
		}
		if werr != nil {
			break
		}
	}
	require.ErrorIs(t, werr, ErrStorage, "a fragment's write fails within its second")
	require.ErrorIs(t, werr, syscall.ENOSPC)
	assert.Contains(t, werr.Error(), filepath.Base(VideoPath("", "rec-1")), "the error names the file")
	assert.Contains(t, werr.Error(), "--recordings-dir", "and says what to do")
	select {
	case <-r.Failed():
	default:
		t.Fatal("Failed not closed")
	}
	require.ErrorIs(t, r.Err(), ErrStorage)
	require.ErrorIs(t, r.WriteRTP(frames[len(frames)-1].packets[0]), ErrStorage, "nothing more is recorded")
	assert.NoError(t, r.AddEvent(time.Time{}, Event{Kind: KindLeft, SID: "s1"}), "the timeline still takes events")

	s, err := r.Close()
	require.ErrorIs(t, err, ErrStorage)
	assert.Equal(t, testFPS, s.Frames, "the frames of the fragment written before the disk filled")
	assert.Equal(t, time.Second, s.Duration)
	require.NoError(t, Verify(s.Timeline.Path, s.Timeline.SHA256))
}

// TestRecordCrashLosesOneFragment: the video file is usable while it is written: a copy
// taken mid-recording (as after a crash) decodes every frame but those of the fragment in
// memory and the sample waiting for its duration.
func TestRecordCrashLosesOneFragment(t *testing.T) {
	frames := testStream(t, segment{width: 640, height: 360, frames: 3 * testFPS})
	r := newTestRecorder(t, Config{})
	for _, f := range frames {
		for _, p := range f.packets {
			require.NoError(t, r.WriteRTP(p))
		}
	}
	src, err := os.Open(VideoPath(r.cfg.Dir, r.cfg.ID))
	require.NoError(t, err)
	crashed := filepath.Join(t.TempDir(), "crashed.mp4")
	dst, err := os.Create(crashed)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, src.Close())
	require.NoError(t, dst.Close())

	got := ffprobe(t, crashed).frames(t)
	assert.GreaterOrEqual(t, got, len(frames)-testFPS-1, "at most a fragment (1 s) and the pending sample lost")
	assert.Less(t, got, len(frames))
	s, err := r.Close()
	require.NoError(t, err)
	assert.Equal(t, len(frames), s.Frames)
}
