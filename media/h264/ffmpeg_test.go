package h264_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// encodeFFmpeg has ffmpeg encode frames of its test source with libx264 (x264 options in
// params) and returns the Annex-B byte stream.
func encodeFFmpeg(t testing.TB, frames int, codecArgs ...string) []byte {
	t.Helper()
	ffmpeg := testenv.LookPath(t, "ffmpeg", "ffmpeg")
	out := filepath.Join(t.TempDir(), "out.h264")
	args := []string{"-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-frames:v", itoa(frames), "-c:v", "libx264"}
	args = append(args, codecArgs...)
	args = append(args, "-f", "h264", out)
	cmd := exec.Command(ffmpeg, args...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", b)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	return data
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}
