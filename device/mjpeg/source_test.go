package mjpeg

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/media"
)

// hangGuard bounds a test step that must not hang; it is no assertion on time.
const hangGuard = 20 * time.Second

func openStream(t *testing.T, cfg Config) *Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	conn, err := New(cfg).Open(ctx)
	require.NoError(t, err)
	require.Nil(t, conn.Input, "MJPEG carries no input")
	st := conn.Video.(*Stream)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func next(t *testing.T, s media.Source) media.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	f, err := s.Next(ctx)
	require.NoError(t, err)
	return f
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// TestUstreamerStream plays ustreamer's three stream formats with 4:2:2 frames whose size
// changes mid-stream (63×47 comes out cropped to 62×46).
func TestUstreamerStream(t *testing.T) {
	seq := []struct {
		name string
		w, h int
	}{{"422", 64, 48}, {"422odd", 62, 46}, {"420", 64, 48}, {"444", 64, 48}}
	for _, mode := range []string{"plain", "extra", "advance"} {
		t.Run(mode, func(t *testing.T) {
			frames := make(chan []byte)
			srv := startFake(t, serveFrames(frames, mode))
			st := openStream(t, Config{URL: mustURL(t, srv.url("/stream"))})
			var last time.Time
			for _, want := range seq {
				before := time.Now()
				frames <- testdata(t, want.name)
				f := next(t, st)
				require.Equal(t, [2]int{want.w, want.h}, [2]int{f.Image.Rect.Dx(), f.Image.Rect.Dy()}, want.name)
				require.NoError(t, checkI420(f.Image, want.w, want.h))
				requireBars(t, f.Image)
				assert.False(t, f.CaptureTime.Before(before), "capture time is when the part arrived")
				assert.True(t, f.CaptureTime.After(last))
				assert.Zero(t, f.AfterInput)
				last = f.CaptureTime
			}
			assert.Equal(t, Stats{Received: uint64(len(seq))}, st.Stats())
		})
	}
}

func TestOpenErrors(t *testing.T) {
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		return "http://" + addr + "/stream"
	}()
	silent := startFake(t, func(ctx context.Context, _ *bufio.Writer, _ *http.Request) { <-ctx.Done() })
	tests := []struct {
		name   string
		raw    string // the server's answer
		url    string // instead of a server
		user   bool
		target error
		msg    string
	}{
		{name: "401 without user", raw: ustreamerUnauthorized, target: ErrUnauthorized, msg: "answered 401: no user and password given"},
		{name: "401 with user", raw: ustreamerUnauthorized, user: true, target: ErrUnauthorized, msg: "answered 401: wrong user or password"},
		{
			name: "404", raw: "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
			target: ErrNotFound, msg: "answered 404: check the stream path (PiKVM: /streamer/stream",
		},
		{
			name: "html page", raw: "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>",
			target: ErrNotMJPEG, msg: "is not an MJPEG stream (Content-Type text/html)",
		},
		{
			name: "snapshot", raw: "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\n\r\n\xFF\xD8\xFF\xD9",
			target: ErrNotMJPEG, msg: "is a single picture (a snapshot), not a stream",
		},
		{
			name: "octet-stream that is not multipart", raw: "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01binary\r\n",
			target: ErrNotMJPEG, msg: "does not start with a part boundary",
		},
		{
			name: "multipart without boundary that ends", raw: "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace\r\n\r\n",
			target: ErrNotMJPEG, msg: "ended before its first part",
		},
		{name: "500", raw: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", target: ErrHTTPStatus, msg: "answered 503 Service Unavailable"},
		{name: "connection refused", url: refused, msg: "cannot reach 127.0.0.1:"},
		{name: "no answer", url: silent.url("/stream"), msg: "did not answer within 300ms: check the host and port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.url
			if u == "" {
				u = startFake(t, answer(tt.raw)).url("/stream")
			}
			pu := mustURL(t, u)
			if tt.user {
				pu.User = url.UserPassword("admin", "hunter2")
			}
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			_, err := New(Config{URL: pu, DialTimeout: 300 * time.Millisecond}).Open(ctx)
			require.Error(t, err)
			if tt.target != nil {
				require.ErrorIs(t, err, tt.target)
			}
			require.Contains(t, err.Error(), tt.msg)
			require.NotContains(t, err.Error(), "hunter2", "the password stays out of messages")
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestOpenCancelled(t *testing.T) {
	silent := startFake(t, func(ctx context.Context, _ *bufio.Writer, _ *http.Request) { <-ctx.Done() })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := New(Config{URL: mustURL(t, silent.url("/stream")), DialTimeout: hangGuard}).Open(ctx)
		errc <- err
	}()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
}

func TestBasicAuth(t *testing.T) {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:s3cret"))
	// Each case gets its own streamer and frame channel: the handler of a closed case's
	// connection may still be waiting for a frame, and must not take the next case's.
	start := func(t *testing.T) (chan<- []byte, string) {
		frames := make(chan []byte, 1)
		srv := startFake(t, func(ctx context.Context, w *bufio.Writer, req *http.Request) {
			if req.Header.Get("Authorization") != want {
				_, _ = w.WriteString(ustreamerUnauthorized)
				return
			}
			serveFrames(frames, "plain")(ctx, w, req)
		})
		return frames, strings.TrimPrefix(srv.url("/stream"), "http://")
	}
	lookup := func(secret string) func(string) (string, bool) {
		return func(name string) (string, bool) { return secret, name == PasswordVar }
	}
	tests := []struct {
		name   string
		spec   string // HOST stands for the streamer's address
		lookup func(string) (string, bool)
		ok     bool
	}{
		{"password from the environment", "mjpeg+http://admin@HOST", lookup("s3cret"), true},
		{"password in the URL", "mjpeg+http://admin:s3cret@HOST", nil, true},
		{"the URL's password wins", "mjpeg+http://admin:s3cret@HOST", lookup("other"), true},
		{"wrong password", "mjpeg+http://admin@HOST", lookup("wrong"), false},
		{"no user", "mjpeg+http://HOST", lookup("s3cret"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, host := start(t)
			spec := strings.Replace(tt.spec, "HOST", host, 1)
			src, err := NewSource(mustURL(t, spec), device.Options{Lookup: tt.lookup})
			require.NoError(t, err)
			require.NotContains(t, src.String(), "s3cret")
			require.True(t, strings.HasPrefix(src.String(), "mjpeg+http://"), src.String())
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			conn, err := src.Open(ctx)
			if !tt.ok {
				require.ErrorIs(t, err, ErrUnauthorized)
				require.NotContains(t, err.Error(), "s3cret")
				return
			}
			require.NoError(t, err)
			defer conn.Video.Close()
			frames <- testdata(t, "422")
			f := next(t, conn.Video)
			requireBars(t, f.Image)
		})
	}
}

func TestMalformedPartsSkipped(t *testing.T) {
	good := testdata(t, "422")
	corrupt := []byte("\xFF\xD8\xFF\xC0\x00\x11\x08\x00\x30\x00\x40\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xFF\xD9")
	phases := []string{
		ustreamerPart(good),
		ustreamerPart(good) +
			"Content-Type: image/jpeg\r\nContent-Length: lots\r\n\r\n" + string(good) + "\r\n--" + usBoundary + "\r\n" +
			"Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc\r\n--" + usBoundary + "\r\n" +
			ustreamerPart(corrupt),
		ustreamerPart(testdata(t, "420odd")),
	}
	release := make(chan struct{})
	srv := startFake(t, func(ctx context.Context, w *bufio.Writer, _ *http.Request) {
		_, _ = w.WriteString(ustreamerHeader)
		for i, p := range phases {
			if i > 0 {
				select {
				case <-release:
				case <-ctx.Done():
					return
				}
			}
			_, _ = w.WriteString(p)
			_ = w.Flush()
		}
		<-ctx.Done()
	})
	st := openStream(t, Config{URL: mustURL(t, srv.url("/stream"))})
	requireBars(t, next(t, st).Image)

	release <- struct{}{}
	require.Eventually(t, func() bool { return st.Stats().Received == 3 }, hangGuard, 5*time.Millisecond)
	frame := make(chan media.Frame, 1)
	go func() {
		f, err := st.Next(context.Background())
		assert.NoError(t, err)
		frame <- f
	}()
	// Next takes the newest part, the corrupt one, skips it and waits for the next.
	require.Eventually(t, func() bool { return st.Stats().Undecodable == 1 }, hangGuard, 5*time.Millisecond)
	release <- struct{}{}
	f := <-frame
	require.Equal(t, 62, f.Image.Rect.Dx())
	requireBars(t, f.Image)
	assert.Equal(t, Stats{Received: 4, Dropped: 1, Undecodable: 1, Malformed: 1}, st.Stats())
}

func TestCorruptFramesAreSkippedThenFail(t *testing.T) {
	frames := make(chan []byte)
	srv := startFake(t, serveFrames(frames, "plain"))
	st := openStream(t, Config{URL: mustURL(t, srv.url("/stream")), NewDecoder: func() Decoder { return NewStdDecoder() }})
	garbage := append([]byte("\xFF\xD8\xFF\xC0\x00\x11\x08\x00\x30\x00\x40\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"), "\xFF\xD9"...)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := st.Next(ctx)
		errc <- err
	}()
	// Each corrupt frame is taken by the waiting Next before the next one is sent? Not
	// necessarily: drops are fine, what matters is that a stream of nothing but corrupt
	// frames ends in an error instead of silence.
	for {
		select {
		case frames <- garbage:
			continue
		case err := <-errc:
			require.Error(t, err)
			require.NotErrorIs(t, err, ErrUnsupported)
			require.GreaterOrEqual(t, st.Stats().Undecodable, uint64(maxBadFrames))
			return
		}
	}
}

func TestUnsupportedFrameFailsAtOnce(t *testing.T) {
	frames := make(chan []byte, 1)
	srv := startFake(t, serveFrames(frames, "plain"))
	st := openStream(t, Config{URL: mustURL(t, srv.url("/stream"))})
	prog := []byte(strings.Replace(string(testdata(t, "420")), "\xFF\xC0", "\xFF\xC2", 1))
	frames <- prog
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	_, err := st.Next(ctx)
	require.ErrorIs(t, err, ErrUnsupported)
	require.Contains(t, err.Error(), "progressive JPEG")
}

func TestOversizedFrameEndsStream(t *testing.T) {
	srv := startFake(t, answer(ustreamerHeader+
		"Content-Type: image/jpeg\r\nContent-Length: 20000000\r\n\r\n"+strings.Repeat("x", 1000)))
	st := openStream(t, Config{URL: mustURL(t, srv.url("/stream"))})
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	_, err := st.Next(ctx)
	require.ErrorIs(t, err, ErrFrameTooLarge)
}

func TestStall(t *testing.T) {
	frames := make(chan []byte, 1)
	srv := startFake(t, serveFrames(frames, "plain"))
	st := openStream(t, Config{URL: mustURL(t, srv.url("/stream")), StallTimeout: 300 * time.Millisecond})
	frames <- testdata(t, "422")
	next(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	_, err := st.Next(ctx)
	require.ErrorIs(t, err, ErrStalled)
	require.Contains(t, err.Error(), "for 300ms")
	select {
	case <-st.Done():
	default:
		t.Fatal("Done is not closed after a stall")
	}
}

// TestDroppedWhileIdle: a stream that ends while nobody pulls frames closes Done, so the
// supervisor reconnects without waiting for a viewer.
func TestDroppedWhileIdle(t *testing.T) {
	frames := make(chan []byte, 1)
	srv := startFake(t, serveFrames(frames, "plain"))
	st := openStream(t, Config{URL: mustURL(t, srv.url("/stream"))})
	var _ device.Watched = st
	frames <- testdata(t, "422")
	require.Eventually(t, func() bool { return st.Stats().Received == 1 }, hangGuard, 5*time.Millisecond)
	srv.dropAll()
	select {
	case <-st.Done():
	case <-time.After(hangGuard):
		t.Fatal("Done not closed after the server dropped the stream")
	}
	f := next(t, st) // the frame that arrived before the end is still handed out
	requireBars(t, f.Image)
	_, err := st.Next(context.Background())
	require.Error(t, err)
	require.False(t, errors.Is(err, media.ErrClosed))
}

// TestStaleFramesDropped: a producer faster than the consumer; Next returns the newest frame
// and counts the rest as dropped.
func TestStaleFramesDropped(t *testing.T) {
	const n = 20
	frames := make(chan []byte, n+1)
	srv := startFake(t, serveFrames(frames, "plain"))
	st := openStream(t, Config{URL: mustURL(t, srv.url("/stream"))})
	for i := range n {
		frames <- grayJPEG(t, 64, 48, uint8(10*i))
	}
	require.Eventually(t, func() bool { return st.Stats().Received == n }, hangGuard, 5*time.Millisecond)
	f := next(t, st)
	assert.InDelta(t, 10*(n-1), meanY(f.Image), 2, "the newest frame")
	assert.Equal(t, Stats{Received: n, Dropped: n - 1}, st.Stats())

	// Nothing newer: Next waits.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := st.Next(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	frames <- grayJPEG(t, 64, 48, 33)
	f = next(t, st)
	assert.InDelta(t, 33, meanY(f.Image), 2)
	assert.Equal(t, Stats{Received: n + 1, Dropped: n - 1}, st.Stats())
}

func TestRefresh(t *testing.T) {
	frames := make(chan []byte, 1)
	srv := startFake(t, serveFrames(frames, "plain"))
	st := openStream(t, Config{URL: mustURL(t, srv.url("/stream"))})
	var _ media.Refresher = st
	st.Refresh() // before any frame: nothing to repeat, Next waits for the first
	frames <- testdata(t, "422")
	first := next(t, st)
	st.Refresh()
	again := next(t, st)
	require.Same(t, first.Image, again.Image, "the latest picture again, without decoding")
	require.False(t, again.CaptureTime.Before(first.CaptureTime))
	assert.Equal(t, uint64(1), st.Stats().Received)
}

func TestCloseUnblocksNext(t *testing.T) {
	srv := startFake(t, serveFrames(make(chan []byte), "plain"))
	conn, err := New(Config{URL: mustURL(t, srv.url("/stream"))}).Open(context.Background())
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Video.Next(context.Background())
		errc <- err
	}()
	require.NoError(t, conn.Video.Close())
	require.ErrorIs(t, <-errc, media.ErrClosed)
	_, err = conn.Video.Next(context.Background())
	require.ErrorIs(t, err, media.ErrClosed)
	require.NoError(t, conn.Video.Close(), "Close twice")
}

func TestNewSourceSpecs(t *testing.T) {
	pin := strings.Repeat("ab", 32)
	tests := []struct {
		spec   string
		name   string // String(), "" when the spec is refused
		errMsg string
	}{
		{spec: "mjpeg+http://pikvm/streamer/stream", name: "mjpeg+http://pikvm/streamer/stream"},
		{spec: "mjpeg+https://admin:pw@pikvm:8443/streamer/stream?key=1", name: "mjpeg+https://admin:xxxxx@pikvm:8443/streamer/stream?key=1"},
		{spec: "mjpeg+https://pikvm/streamer/stream#sha256=" + pin, name: "mjpeg+https://pikvm/streamer/stream"},
		{spec: "mjpeg+https://pikvm/s#sha256=" + strings.ToUpper(pin[:2]) + ":" + pin[2:], name: "mjpeg+https://pikvm/s"},
		{spec: "mjpeg+http://pikvm/s#sha256=" + pin, errMsg: "needs mjpeg+https://"},
		{spec: "mjpeg+https://pikvm/s#pin", errMsg: "want #sha256=<64 hex digits"},
		{spec: "mjpeg+ftp://pikvm/s", errMsg: "want mjpeg+http:// or mjpeg+https://"},
		{spec: "mjpeg+http:/streamer/stream", errMsg: "want mjpeg+http://HOST[:PORT]/PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			src, err := NewSource(mustURL(t, tt.spec), device.Options{})
			if tt.errMsg != "" {
				require.ErrorContains(t, err, tt.errMsg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.name, src.String())
		})
	}
}

func TestTLS(t *testing.T) {
	frames := make(chan []byte, 1)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace;boundary="+usBoundary)
		_, _ = fmt.Fprintf(w, "--%s\r\n", usBoundary)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case jpeg := <-frames:
				_, _ = w.Write([]byte(ustreamerPart(jpeg)))
				w.(http.Flusher).Flush()
			}
		}
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below
	defer ts.Close()
	sum := fmt.Sprintf("%x", sha256.Sum256(ts.Certificate().Raw))
	base := "mjpeg+" + ts.URL + "/stream"
	open := func(spec string) (device.Conn, error) {
		src, err := NewSource(mustURL(t, spec), device.Options{DialTimeout: 5 * time.Second})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		return src.Open(ctx)
	}

	_, err := open(base)
	require.ErrorContains(t, err, "pin it by ending the spec with #sha256="+sum)

	_, err = open(base + "#sha256=" + strings.Repeat("00", 32))
	require.ErrorContains(t, err, "another certificate than the pinned one")

	conn, err := open(base + "#sha256=" + sum)
	require.NoError(t, err)
	defer conn.Video.Close()
	frames <- testdata(t, "422")
	requireBars(t, next(t, conn.Video).Image)
}
