package rtsp_test

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/rtsp"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// gstPackages is what the test server needs from Debian.
const gstPackages = "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly"

// gstServer runs GStreamer's RTSP server (testdata/gst-rtsp-server.py) with a live x264 test
// pattern encoded with x264Opts, and returns the stream's URL.
func gstServer(t testing.TB, x264Opts, caps string, auth ...string) (string, *exec.Cmd) {
	t.Helper()
	python := testenv.LookPath(t, "/usr/bin/python3", gstPackages)
	if err := exec.Command(python, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer").Run(); err != nil {
		testenv.Missing(t, "GStreamer's RTSP server for Python", "apt-get install -y "+gstPackages)
	}
	port := testenv.FreePort(t)
	launch := "videotestsrc is-live=true ! video/x-raw,width=640,height=360,framerate=30/1 ! " +
		"x264enc tune=zerolatency speed-preset=ultrafast " + x264Opts + " ! " + caps + " ! rtph264pay name=pay0 pt=96"
	args := append([]string{"testdata/gst-rtsp-server.py", fmt.Sprint(port), "/cam", launch}, auth...)
	cmd := exec.Command(python, args...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the RTSP server did not start")
	require.Equal(t, "ready", strings.TrimSpace(line))
	return fmt.Sprintf("rtsp://127.0.0.1:%d/cam", port), cmd
}

func newSource(t testing.TB, spec string, opts device.Options) device.Source {
	t.Helper()
	u, err := url.Parse(spec)
	require.NoError(t, err)
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	src, err := rtsp.NewSource(u, opts)
	require.NoError(t, err)
	return src
}

func open(t testing.TB, src device.Source) device.Conn {
	t.Helper()
	conn, err := src.Open(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Video.Close() })
	return conn
}
