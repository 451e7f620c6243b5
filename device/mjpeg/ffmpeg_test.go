package mjpeg

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/media"
)

// ffmpegServer is `ffmpeg -f mpjpeg -listen 1` serving testsrc2 at size on port: it serves one
// client and exits.
type ffmpegServer struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
}

func startFFmpeg(t testing.TB, port int, size string, extra ...string) *ffmpegServer {
	t.Helper()
	ff := testenv.LookPath(t, "ffmpeg", "ffmpeg")
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=15", "-f", "mpjpeg"}
	args = append(args, extra...)
	args = append(args, "-listen", "1", "http://127.0.0.1:"+strconv.Itoa(port)+"/stream")
	s := &ffmpegServer{cmd: exec.Command(ff, args...), done: make(chan struct{})}
	s.cmd.Stderr = &s.stderr
	require.NoError(t, s.cmd.Start())
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.kill)
	return s
}

// kill ends ffmpeg (even a stopped one) and waits for it.
func (s *ffmpegServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

func (s *ffmpegServer) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(sig))
}

// openFFmpeg opens the stream, retrying while ffmpeg is still starting to listen.
func openFFmpeg(t *testing.T, cfg Config) *Stream {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		conn, err := New(cfg).Open(context.Background())
		if err == nil {
			st := conn.Video.(*Stream)
			t.Cleanup(func() { _ = st.Close() })
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("ffmpeg never served the stream: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ffmpegURL(port int) *url.URL {
	return &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port), Path: "/stream"}
}

// TestFFmpegStream decodes real ffmpeg streams: as `-listen 1` serves them by default
// (Content-Type application/octet-stream: the boundary is read from the body) and with a
// proper multipart Content-Type; then ffmpeg is killed and Next fails.
func TestFFmpegStream(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra []string
	}{
		{"octet-stream", nil},
		{"multipart content type", []string{"-content_type", "multipart/x-mixed-replace;boundary=ffmpeg"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port := testenv.FreePort(t)
			ff := startFFmpeg(t, port, "1280x720", tt.extra...)
			st := openFFmpeg(t, Config{URL: ffmpegURL(port), DialTimeout: time.Second})
			t.Logf("decoder %s", st.Decoder())
			var last time.Time
			for range 5 {
				f := next(t, st)
				require.NoError(t, checkI420(f.Image, 1280, 720))
				requireBars(t, f.Image)
				require.True(t, f.CaptureTime.After(last))
				last = f.CaptureTime
			}
			ff.kill()
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			var err error
			for err == nil {
				_, err = st.Next(ctx) // frames that arrived before the end come first
			}
			require.NoError(t, ctx.Err(), "the end of the stream must be an error from Next, not a hang")
			require.NotErrorIs(t, err, media.ErrClosed)
			t.Logf("after kill: %v", err)
		})
	}
}

// TestFFmpegFrozen stops ffmpeg (SIGSTOP): the connection stays open but no frame comes, and
// Next fails with ErrStalled once the stall timeout has passed.
func TestFFmpegFrozen(t *testing.T) {
	port := testenv.FreePort(t)
	ff := startFFmpeg(t, port, "640x360")
	st := openFFmpeg(t, Config{URL: ffmpegURL(port), DialTimeout: time.Second, StallTimeout: time.Second})
	requireBars(t, next(t, st).Image)
	ff.signal(t, syscall.SIGSTOP)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	var err error
	for err == nil {
		_, err = st.Next(ctx)
	}
	require.ErrorIs(t, err, ErrStalled)
	select {
	case <-st.Done():
	default:
		t.Fatal("Done not closed after the stall")
	}
}

// TestFFmpegReconnectResize runs the source under the device supervisor: ffmpeg at 1280×720
// is killed, restarted on the same port at 640×360, and the supervisor's frames follow.
func TestFFmpegReconnectResize(t *testing.T) {
	port := testenv.FreePort(t)
	src := New(Config{URL: ffmpegURL(port), DialTimeout: time.Second})
	sup := device.NewSupervisor(device.SupervisorConfig{
		Source: src, RetryMin: 100 * time.Millisecond, RetryMax: 300 * time.Millisecond,
		CardInterval: 50 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		sup.Run(ctx)
	}()
	defer func() {
		cancel()
		<-runDone
	}()

	// waitFrame pulls frames (and no-signal cards) until a testsrc2 frame of w×h comes.
	waitFrame := func(w, h int) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, hangGuard)
		defer wcancel()
		for {
			f, err := sup.Next(wctx)
			require.NoError(t, err, "no %dx%d frame; health %+v", w, h, sup.Health())
			if fw, fh := f.Size(); fw == w && fh == h && barsErr(f.Image) == nil {
				return
			}
		}
	}

	first := startFFmpeg(t, port, "1280x720")
	waitFrame(1280, 720)
	assert.Equal(t, device.StateLive, sup.Health().State)

	first.kill()
	require.Eventually(t, func() bool {
		// Pull so the supervisor sees the failure even if Done were not implemented.
		pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer pcancel()
		_, _ = sup.Next(pctx)
		return sup.Health().State == device.StateNoSignal
	}, hangGuard, 10*time.Millisecond)

	startFFmpeg(t, port, "640x360")
	waitFrame(640, 360)
	h := sup.Health()
	assert.Equal(t, device.StateLive, h.State)
	assert.GreaterOrEqual(t, h.Reconnects, 1)
	assert.Equal(t, [2]int{640, 360}, [2]int{h.Width, h.Height}, fmt.Sprintf("%+v", h))
}
