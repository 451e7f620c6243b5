package h264http_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/h264http"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/h264"
)

func nalTypes(annexB []byte) []int {
	var types []int
	for _, n := range h264.SplitAnnexB(annexB) {
		types = append(types, h264.NALType(n))
	}
	return types
}

type profiled interface {
	ProfileLevelID() (string, bool)
}

// TestFFmpegStream plays ffmpeg's live H.264 over HTTP: access units arrive one picture each,
// the first an IDR with SPS and PPS in front, IDRs every GOP, and the profile-level-id is the
// one ffmpeg was told.
func TestFFmpegStream(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		plid   string
		width  int
		height int
	}{
		{"baseline", []string{"-profile:v", "baseline", "-level", "3.1", "-tune", "zerolatency", "-g", "15"}, "42c01f", 1280, 720},
		{"high without b-frames", []string{"-profile:v", "high", "-level", "4.0", "-bf", "0", "-g", "15"}, "640028", 640, 360},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, _ := ffmpegServer(t, itoa(tt.width)+"x"+itoa(tt.height), tt.args...)
			src := newSource(t, spec, device.Options{})
			assert.Equal(t, media.CodecH264, src.(device.Encoded).Codec())
			conn := openWhenUp(t, src)
			assert.Nil(t, conn.Input)
			var last time.Time
			for i := range 31 {
				f, err := conn.Video.Next(context.Background())
				require.NoError(t, err)
				require.NotNil(t, f.Encoded)
				assert.Equal(t, media.CodecH264, f.Encoded.Codec)
				assert.Equal(t, i%15 == 0, f.Encoded.Keyframe, "unit %d", i)
				types := nalTypes(f.Encoded.Data)
				if f.Encoded.Keyframe {
					require.GreaterOrEqual(t, len(types), 3)
					assert.Equal(t, []int{h264.NALSPS, h264.NALPPS}, types[:2], "unit %d", i)
					assert.Equal(t, h264.NALIDRSlice, types[len(types)-1])
				} else {
					assert.Equal(t, h264.NALSlice, types[len(types)-1])
				}
				assert.False(t, f.CaptureTime.Before(last))
				last = f.CaptureTime
			}
			id, ok := conn.Video.(profiled).ProfileLevelID()
			require.True(t, ok)
			assert.Equal(t, tt.plid, id)
			w, h := conn.Video.(device.Sized).Size()
			assert.Equal(t, [2]int{tt.width, tt.height}, [2]int{w, h})
		})
	}
}

// TestFFmpegBFrames: a stream with B-frames is refused with an error that says what to change.
func TestFFmpegBFrames(t *testing.T) {
	spec, _ := ffmpegServer(t, "640x360", "-profile:v", "high", "-bf", "2")
	conn := openWhenUp(t, newSource(t, spec, device.Options{}))
	var err error
	for range 100 {
		if _, err = conn.Video.Next(context.Background()); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, h264.ErrBFrames)
	assert.Contains(t, err.Error(), "B-frames")
	<-conn.Video.(device.Watched).Done()
}

// TestFFmpegDropped: when the server goes away mid-stream Next fails, so the supervisor
// reconnects, and Done is closed.
func TestFFmpegDropped(t *testing.T) {
	spec, cmd := ffmpegServer(t, "640x360", "-profile:v", "baseline", "-g", "30")
	conn := openWhenUp(t, newSource(t, spec, device.Options{}))
	for range 3 {
		_, err := conn.Video.Next(context.Background())
		require.NoError(t, err)
	}
	require.NoError(t, cmd.Process.Kill())
	var err error
	for range 1000 {
		if _, err = conn.Video.Next(context.Background()); err != nil {
			break
		}
	}
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.Canceled)
	<-conn.Video.(device.Watched).Done()
}

// TestSupervisor: under the device supervisor the first frame of the connection is an IDR, and
// when the server goes away the no-signal card takes over.
func TestSupervisor(t *testing.T) {
	spec, cmd := ffmpegServer(t, "320x240", "-profile:v", "baseline", "-g", "30")
	sup := device.NewSupervisor(device.SupervisorConfig{
		Source: newSource(t, spec, device.Options{}), RetryMin: 50 * time.Millisecond, CardInterval: 10 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sup.Run(ctx) }()
	defer func() { cancel(); <-done }()
	next := func(encoded bool) media.Frame {
		for range 10000 {
			f, err := sup.Next(ctx)
			require.NoError(t, err)
			if (f.Encoded != nil) == encoded {
				return f
			}
		}
		t.Fatalf("no frame with encoded=%v", encoded)
		return media.Frame{}
	}
	f := next(true)
	assert.True(t, f.Encoded.Keyframe)
	codec, ok := sup.Codec()
	assert.True(t, ok)
	assert.Equal(t, media.CodecH264, codec)
	require.NoError(t, cmd.Process.Kill())
	card := next(false)
	assert.NotNil(t, card.Image)
	for { // the supervisor notes the failure right after Next reported it
		changed := sup.Changed()
		if h := sup.Health(); h.State == device.StateNoSignal {
			assert.Contains(t, h.Error, "connection lost")
			break
		}
		<-changed
	}
}

func TestHTTPErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/secret":
			if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "s3cret" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>"))
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>"))
		case "/noise":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(make([]byte, 2<<20)) // zeros, and never a 1 after them
			_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	base := strings.Replace(srv.URL, "http://", "h264+http://", 1)
	lookup := func(name string) (string, bool) { return "s3cret", name == h264http.PasswordVar }

	_, err := newSource(t, base+"/missing", device.Options{}).Open(context.Background())
	assert.ErrorIs(t, err, h264http.ErrHTTPStatus)

	_, err = newSource(t, base+"/page", device.Options{}).Open(context.Background())
	assert.ErrorIs(t, err, h264http.ErrNotH264)

	anon := strings.Replace(base, "://", "://admin@", 1)
	_, err = newSource(t, anon+"/secret", device.Options{}).Open(context.Background())
	assert.ErrorIs(t, err, h264http.ErrUnauthorized)
	assert.Contains(t, err.Error(), "wrong user or password")

	_, err = newSource(t, base+"/secret", device.Options{}).Open(context.Background())
	assert.Contains(t, err.Error(), h264http.PasswordVar)

	// The password from the secret reaches the server: past 401, to the content check.
	_, err = newSource(t, anon+"/secret", device.Options{Lookup: lookup}).Open(context.Background())
	assert.ErrorIs(t, err, h264http.ErrNotH264)

	conn, err := newSource(t, base+"/noise", device.Options{}).Open(context.Background())
	require.NoError(t, err)
	defer conn.Video.Close()
	_, err = conn.Video.Next(context.Background())
	assert.ErrorIs(t, err, h264http.ErrNotH264)

	_, err = newSource(t, "h264+http://127.0.0.1:1/x", device.Options{}).Open(context.Background())
	assert.Contains(t, err.Error(), "check the host and port")
}

func TestNewSource(t *testing.T) {
	src := newSource(t, "h264+https://admin:pw@cam.example:8443/live?x=1", device.Options{})
	assert.Equal(t, "h264+https://admin@cam.example:8443/live?x=1", src.String())
	for _, bad := range []string{"h264+ftp://x/y", "h264+http:opaque"} {
		u, err := device.ParseSpec(bad)
		require.NoError(t, err)
		_, err = h264http.NewSource(u, device.Options{})
		assert.Error(t, err, bad)
	}
}
