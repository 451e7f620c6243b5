package recording

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, Probe(dir))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the probe leaves nothing behind")

	require.NoError(t, Probe(filepath.Join(dir, "made", "on", "demand")))

	// The tests run as root, which mode bits do not stop: a directory under a regular file
	// cannot exist for anyone.
	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o640))
	err = Probe(filepath.Join(file, "recordings"))
	require.ErrorIs(t, err, ErrStorage)
	assert.Contains(t, err.Error(), filepath.Join(file, "recordings"), "the error names the path")
	assert.Contains(t, err.Error(), "--recordings-dir", "and says what to do")
}

func TestNewStorageErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o640))
	_, err := New(Config{Dir: filepath.Join(file, "recordings"), ID: "r1", Codec: "video/H264"})
	require.ErrorIs(t, err, ErrStorage)
	assert.Contains(t, err.Error(), "--recordings-dir")

	// A recording id is used once: its files are never replaced.
	r := newTestRecorder(t, Config{Dir: dir, ID: "r1"})
	_, err = New(Config{Dir: dir, ID: "r1", Codec: "video/H264"})
	require.ErrorIs(t, err, ErrStorage)
	require.ErrorIs(t, err, os.ErrExist)
	_, err = r.Close()
	require.NoError(t, err)
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"VP8", Config{Dir: dir, ID: "a", Codec: "video/VP8"}, ErrCodecNotRecordable},
		{"no codec", Config{Dir: dir, ID: "a"}, ErrCodecNotRecordable},
		{"path in id", Config{Dir: dir, ID: "../a", Codec: "video/H264"}, nil},
		{"dot in id", Config{Dir: dir, ID: "a.b", Codec: "video/H264"}, nil},
		{"empty id", Config{Dir: dir, Codec: "video/H264"}, nil},
		{"no directory", Config{ID: "a", Codec: "video/H264"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			require.Error(t, err)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing created for a refused recording")
	assert.NoError(t, CheckCodec("video/h264"), "MIME types are case-insensitive")
	assert.ErrorContains(t, CheckCodec("video/VP8"), "H.264")
}

func TestSweep(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	write := func(name string, age time.Duration) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o640))
		require.NoError(t, os.Chtimes(p, now.Add(-age), now.Add(-age)))
	}
	write("old.mp4", 48*time.Hour)
	write("old.timeline.jsonl", 48*time.Hour)
	write("old-video-only.mp4", 30*time.Hour)
	write("new.mp4", time.Hour)
	write("new.timeline.jsonl", time.Hour)
	// The timeline of a recording still written is newer than its video's last fragment.
	write("mixed.mp4", 48*time.Hour)
	write("mixed.timeline.jsonl", time.Minute)
	write("notes.txt", 48*time.Hour)
	write(".probe-1.mp4", 48*time.Hour)

	removed, err := Sweep(dir, now.Add(-24*time.Hour))
	require.NoError(t, err)
	slices.Sort(removed)
	assert.Equal(t, []string{"old", "old-video-only"}, removed)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assert.ElementsMatch(t, []string{"new.mp4", "new.timeline.jsonl", "mixed.mp4", "mixed.timeline.jsonl", "notes.txt", ".probe-1.mp4"}, left)

	removed, err = Sweep(filepath.Join(dir, "missing"), now)
	require.NoError(t, err, "no directory, nothing to sweep")
	assert.Empty(t, removed)
}
