package e2e

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/builtin"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// startFFmpeg runs ffmpeg with args until the test ends.
func startFFmpeg(t *testing.T, args ...string) {
	t.Helper()
	ffmpeg := testenv.LookPath(t, "ffmpeg", "ffmpeg")
	cmd := exec.Command(ffmpeg, append([]string{"-v", "error", "-nostdin"}, args...)...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// catalogSource builds a source from a --source spec, as kvmagent does.
func catalogSource(t *testing.T, spec string) device.Source {
	t.Helper()
	src, err := builtin.Catalog().Source(spec, device.Options{DialTimeout: 5 * time.Second, Logger: testLogger()})
	require.NoError(t, err)
	return src
}

// TestRealSourcesInChromium: a machine's picture from software no one here wrote reaches
// Chromium through the agent — ffmpeg serving MJPEG as PiKVM's ustreamer does, and ffmpeg
// serving H.264 that is forwarded without re-encoding, offered with the stream's own profile
// (baseline and main) so the browser decodes what the camera sends.
func TestRealSourcesInChromium(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scheme string
		args   []string
	}{
		{"mjpeg", "mjpeg+http", []string{"-c:v", "mjpeg", "-q:v", "5", "-f", "mpjpeg", "-content_type", "multipart/x-mixed-replace;boundary=ffmpeg"}},
		{"h264 baseline passthrough", "h264+http", []string{"-c:v", "libx264", "-profile:v", "baseline", "-tune", "zerolatency", "-g", "30", "-f", "h264"}},
		{"h264 main passthrough", "h264+http", []string{"-c:v", "libx264", "-profile:v", "main", "-bf", "0", "-tune", "zerolatency", "-g", "30", "-f", "h264"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := testenv.FreePort(t)
			args := append([]string{"-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"}, tc.args...)
			startFFmpeg(t, append(args, "-listen", "1", fmt.Sprintf("http://127.0.0.1:%d/stream", port))...)
			s := newStack(t, stackOptions{source: catalogSource(t, fmt.Sprintf("%s://127.0.0.1:%d/stream", tc.scheme, port))})
			ctx := testenv.Chromium(t)
			openConsole(t, ctx, s.link(t))
			waitJS(t, ctx, `document.querySelector("video").videoWidth === 1280 && document.querySelector("video").videoHeight === 720`, 10*time.Second, "the source's size")
			frames := mustJS[int](t, ctx, `window.kvm.framesDecoded`)
			waitJS(t, ctx, fmt.Sprintf(`window.kvm.framesDecoded > %d + 30`, frames), 15*time.Second, "a second of the source's frames decoded")
			shot(t, ctx, tc.name)
		})
	}
	// A camera's High profile stream. Debian's Chromium does not decode it (it lists
	// constrained baseline, baseline, main and high 4:4:4 predictive): the console says why
	// instead of showing nothing. A Chromium that decodes High shows the picture.
	t.Run("h264 high: played, or refused with a reason", func(t *testing.T) {
		port := testenv.FreePort(t)
		startFFmpeg(t, "-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-c:v", "libx264", "-profile:v", "high", "-bf", "0",
			"-tune", "zerolatency", "-g", "30", "-f", "h264", "-listen", "1", fmt.Sprintf("http://127.0.0.1:%d/stream", port))
		s := newStack(t, stackOptions{source: catalogSource(t, fmt.Sprintf("h264+http://127.0.0.1:%d/stream", port))})
		ctx := testenv.Chromium(t)
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.link(t))))
		if mustJS[bool](t, ctx, `RTCRtpReceiver.getCapabilities("video").codecs.some((c) => /profile-level-id=64/.test(c.sdpFmtpLine || ""))`) {
			waitJS(t, ctx, `window.kvm && window.kvm.framesDecoded > 30`, 20*time.Second, "the High profile stream decoded")
			return
		}
		waitJS(t, ctx, `document.body.textContent.includes("cannot decode the source's H.264 high")`, 20*time.Second, "the reason on the page")
		shot(t, ctx, "high-refused")
	})
}
