package h264http_test

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/h264http"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// ffmpegServer runs `ffmpeg -re … -f h264 -listen 1 http://127.0.0.1:PORT/x`, which serves one
// client the live encoding of its test source, and returns the spec of the stream.
func ffmpegServer(t testing.TB, size string, codecArgs ...string) (spec string, cmd *exec.Cmd) {
	t.Helper()
	ffmpeg := testenv.LookPath(t, "ffmpeg", "ffmpeg")
	port := testenv.FreePort(t)
	args := []string{"-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=30", "-c:v", "libx264"}
	args = append(args, codecArgs...)
	args = append(args, "-f", "h264", "-listen", "1", fmt.Sprintf("http://127.0.0.1:%d/x", port))
	cmd = exec.Command(ffmpeg, args...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return fmt.Sprintf("h264+http://127.0.0.1:%d/x", port), cmd
}

func newSource(t testing.TB, spec string, opts device.Options) device.Source {
	t.Helper()
	u, err := url.Parse(spec)
	require.NoError(t, err)
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	src, err := h264http.NewSource(u, opts)
	require.NoError(t, err)
	return src
}

// openWhenUp opens src, retrying while the server is not listening yet.
func openWhenUp(t testing.TB, src device.Source) device.Conn {
	t.Helper()
	var err error
	for range 100 {
		var conn device.Conn
		conn, err = src.Open(context.Background())
		if err == nil {
			t.Cleanup(func() { _ = conn.Video.Close() })
			return conn
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err, "the server never answered")
	return device.Conn{}
}

func itoa(n int) string { return strconv.Itoa(n) }
