package recording

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerify(t *testing.T) {
	frames := testStream(t, segment{width: 640, height: 360, frames: testFPS})
	s := record(t, newTestRecorder(t, Config{}), frames, nil)
	require.NotZero(t, s.Video.Size)

	require.NoError(t, Verify(s.Video.Path, s.Video.SHA256))
	require.NoError(t, Verify(s.Timeline.Path, s.Timeline.SHA256))
	assert.ErrorIs(t, Verify(s.Video.Path, s.Timeline.SHA256), ErrTampered, "another file's digest")

	tests := []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"a flipped bit in the middle", func(b []byte) []byte { b[len(b)/2] ^= 0x01; return b }},
		{"a flipped bit in the first byte", func(b []byte) []byte { b[0] ^= 0x80; return b }},
		{"the last fragment cut off", func(b []byte) []byte { return b[:len(b)-1] }},
		{"a byte appended", func(b []byte) []byte { return append(b, 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig, err := os.ReadFile(s.Video.Path)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, os.WriteFile(s.Video.Path, orig, 0o640)) })
			require.NoError(t, os.WriteFile(s.Video.Path, tc.edit(append([]byte(nil), orig...)), 0o640))
			err = Verify(s.Video.Path, s.Video.SHA256)
			require.ErrorIs(t, err, ErrTampered)
			assert.Contains(t, err.Error(), s.Video.Path)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		err := Verify(s.Video.Path+".gone", s.Video.SHA256)
		require.ErrorIs(t, err, os.ErrNotExist)
		assert.NotErrorIs(t, err, ErrTampered)
	})
	t.Run("digest in capitals", func(t *testing.T) {
		up := []byte(s.Video.SHA256)
		for i, c := range up {
			if c >= 'a' && c <= 'f' {
				up[i] = c - 'a' + 'A'
			}
		}
		assert.NoError(t, Verify(s.Video.Path, string(up)))
	})
}
