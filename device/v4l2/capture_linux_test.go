//go:build linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64)

package v4l2

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/mjpeg"
	"github.com/kvmrelay/kvmrelay/media"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openFake opens a capture on f as the factory would, with the fake's clocks.
func openFake(t *testing.T, f *fakeDev, cfg Config) (media.Source, error) {
	t.Helper()
	cfg.Clock, cfg.Logger = f.clock, quiet
	src := New(cfg)
	s, ok := src.(*Source)
	if !ok {
		s = src.(encodedSource).Source
	}
	s.open = func(string) (vdev, error) { return f, nil }
	s.monoNow = f.monoNow
	conn, err := src.Open(context.Background())
	if err != nil {
		return nil, err
	}
	require.Nil(t, conn.Input, "a capture carries no input")
	return conn.Video, nil
}

// solidYUYV is a w×h YUYV picture of one colour with the driver's stride.
func solidYUYV(w, h, stride int, y, u, v byte) []byte {
	b := make([]byte, stride*h)
	for r := range h {
		for x := 0; x < w/2; x++ {
			copy(b[r*stride+4*x:], []byte{y, u, y, v})
		}
	}
	return b
}

func solidUYVY(w, h int, y, u, v byte) []byte {
	b := make([]byte, 2*w*h)
	for i := 0; i < len(b); i += 4 {
		copy(b[i:], []byte{u, y, v, y})
	}
	return b
}

// assertSolid checks every pixel of img is (y, cb, cr).
func assertSolid(t *testing.T, img *image.YCbCr, y, cb, cr byte) {
	t.Helper()
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for r := range h {
		for x := range w {
			if img.Y[r*img.YStride+x] != y {
				t.Fatalf("Y at %d,%d is %d, want %d", x, r, img.Y[r*img.YStride+x], y)
			}
		}
	}
	for r := range (h + 1) / 2 {
		for x := range (w + 1) / 2 {
			if got := [2]byte{img.Cb[r*img.CStride+x], img.Cr[r*img.CStride+x]}; got != [2]byte{cb, cr} {
				t.Fatalf("chroma at %d,%d is %v, want %v", x, r, got, [2]byte{cb, cr})
			}
		}
	}
}

func dongle(t *testing.T) *fakeDev {
	f := newFake(t)
	f.formats = []fakeFormat{
		{fcc: fccMJPG, sizes: []fakeSize{{64, 48, fps(60, 30)}, {32, 24, fps(30)}}},
		{fcc: fccYUYV, sizes: []fakeSize{{64, 48, fps(5)}, {32, 24, fps(30)}}},
	}
	return f
}

func TestStreamYUYV(t *testing.T) {
	f := dongle(t)
	f.padStride = 8
	f.frameFor = func(f *fakeDev, seq int) fakeFrame {
		return fakeFrame{planes: [][]byte{solidYUYV(32, 24, 2*32+8, byte(16+seq), 90, 200)}, age: 15 * time.Millisecond}
	}
	video, err := openFake(t, f, Config{Width: 32, Height: 24})
	require.NoError(t, err)
	assert.Equal(t, fourcc(fccYUYV), f.cur.fcc, "raw is cheaper at the same rate")
	assert.Equal(t, interval{1, 30}, f.period, "S_PARM set the frame rate")
	w, h := video.(device.Sized).Size()
	assert.Equal(t, [2]int{32, 24}, [2]int{w, h})
	for i := range 5 {
		fr, err := video.Next(context.Background())
		require.NoError(t, err)
		require.NotNil(t, fr.Image)
		assert.Equal(t, image.Rect(0, 0, 32, 24), fr.Image.Rect)
		assertSolid(t, fr.Image, byte(16+i), 90, 200)
		assert.Equal(t, f.clock.Now().Add(-15*time.Millisecond), fr.CaptureTime, "from the buffer's monotonic timestamp")
		assert.Zero(t, f.held(), "no driver buffer is held across Next")
	}
	require.NoError(t, video.Close())
	f.checkReleased(t)
	require.NoError(t, video.Close(), "Close twice")
	_, err = video.Next(context.Background())
	assert.ErrorIs(t, err, media.ErrClosed)
}

func TestNewestFrameWins(t *testing.T) {
	f := dongle(t)
	first := true
	f.frameFor = func(*fakeDev, int) fakeFrame {
		if !first {
			return fakeFrame{}
		}
		first = false
		return fakeFrame{planes: [][]byte{solidYUYV(32, 24, 64, 1, 128, 128)}}
	}
	video, err := openFake(t, f, Config{Width: 32, Height: 24, Format: FormatYUYV})
	require.NoError(t, err)
	defer video.Close()
	fr, err := video.Next(context.Background()) // the one Open waited for
	require.NoError(t, err)
	assertSolid(t, fr.Image, 1, 128, 128)

	for _, y := range []byte{10, 20, 30} {
		require.True(t, f.produce(fakeFrame{planes: [][]byte{solidYUYV(32, 24, 64, y, 128, 128)}}))
	}
	fr, err = video.Next(context.Background())
	require.NoError(t, err)
	assertSolid(t, fr.Image, 30, 128, 128)
	assert.Zero(t, f.held())

	// More frames than buffers: the driver drops what it has nowhere to put.
	for y := range byte(DefaultBuffers + 1) {
		f.produce(fakeFrame{planes: [][]byte{solidYUYV(32, 24, 64, 40+y, 128, 128)}})
	}
	fr, err = video.Next(context.Background())
	require.NoError(t, err)
	assertSolid(t, fr.Image, 40+DefaultBuffers-1, 128, 128)
	assert.Zero(t, f.held())
}

func TestMJPEGAtFullSize(t *testing.T) {
	decoders := map[string]func() JPEGDecoder{
		"image/jpeg":   func() JPEGDecoder { return mjpeg.NewStdDecoder() },
		"device/mjpeg": func() JPEGDecoder { return mjpeg.NewDecoder() }, // as builtin wires it
	}
	for name, newDecoder := range decoders {
		t.Run(name, func(t *testing.T) { testMJPEG(t, newDecoder) })
	}
}

func testMJPEG(t *testing.T, newDecoder func() JPEGDecoder) {
	f := dongle(t)
	pic := image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420)
	for i := range pic.Y {
		pic.Y[i] = 100
	}
	for i := range pic.Cb {
		pic.Cb[i], pic.Cr[i] = 60, 180
	}
	var jpg bytes.Buffer
	require.NoError(t, jpeg.Encode(&jpg, pic, &jpeg.Options{Quality: 95}))
	f.frameFor = func(*fakeDev, int) fakeFrame { return fakeFrame{planes: [][]byte{jpg.Bytes()}} }
	video, err := openFake(t, f, Config{NewJPEGDecoder: newDecoder})
	require.NoError(t, err)
	defer video.Close()
	assert.Equal(t, fourcc(fccMJPG), f.cur.fcc, "YUYV is too slow at the largest size")
	assert.Equal(t, [2]int{64, 48}, [2]int{f.cur.w, f.cur.h})
	assert.Equal(t, interval{1, 30}, f.period)
	fr, err := video.Next(context.Background())
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 64, 48), fr.Image.Rect)
	r, g, b, _ := fr.Image.At(10, 10).RGBA()
	wr, wg, wb, _ := color.YCbCr{100, 60, 180}.RGBA()
	assert.InDelta(t, wr>>8, r>>8, 3)
	assert.InDelta(t, wg>>8, g>>8, 3)
	assert.InDelta(t, wb>>8, b>>8, 3)
	assert.Zero(t, f.held())
}

func TestBadFramesDroppedThenFail(t *testing.T) {
	f := dongle(t)
	n := 0
	f.frameFor = func(*fakeDev, int) fakeFrame {
		n++
		switch {
		case n == 1, n == 4:
			return fakeFrame{planes: [][]byte{solidYUYV(32, 24, 64, byte(n), 128, 128)}}
		case n == 2:
			return fakeFrame{planes: [][]byte{solidYUYV(32, 24, 64, 99, 128, 128)}, flags: bufFlagError}
		case n == 3:
			return fakeFrame{planes: [][]byte{make([]byte, 100)}} // truncated
		}
		return fakeFrame{planes: [][]byte{make([]byte, 100)}}
	}
	video, err := openFake(t, f, Config{Width: 32, Height: 24})
	require.NoError(t, err)
	defer video.Close()
	fr, err := video.Next(context.Background())
	require.NoError(t, err)
	assertSolid(t, fr.Image, 1, 128, 128)
	fr, err = video.Next(context.Background())
	require.NoError(t, err)
	assertSolid(t, fr.Image, 4, 128, 128) // 2 (error flag) and 3 (short) were dropped
	_, err = video.Next(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unreadable frames in a row")
	assert.ErrorIs(t, err, errShortFrame)
	assert.Zero(t, f.held())
}

func TestNoSignal(t *testing.T) {
	t.Run("dongle that never delivers", func(t *testing.T) {
		f := dongle(t)
		f.stall = true
		start := f.clock.Now()
		_, err := openFake(t, f, Config{NoSignalTimeout: 3 * time.Second})
		require.ErrorIs(t, err, ErrNoSignal)
		assert.Equal(t, 3*time.Second, f.clock.Now().Sub(start), "gave up at the timeout")
		f.checkReleased(t)
	})
	t.Run("dongle that stops", func(t *testing.T) {
		f := dongle(t)
		f.frameFor = func(*fakeDev, int) fakeFrame {
			return fakeFrame{planes: [][]byte{solidYUYV(32, 24, 64, 50, 128, 128)}}
		}
		video, err := openFake(t, f, Config{Width: 32, Height: 24})
		require.NoError(t, err)
		_, err = video.Next(context.Background())
		require.NoError(t, err)
		f.mu.Lock()
		f.frameFor, f.stall = nil, true
		f.mu.Unlock()
		_, err = video.Next(context.Background())
		require.ErrorIs(t, err, ErrNoSignal)
		require.NoError(t, video.Close())
		f.checkReleased(t)
	})
	t.Run("bridge without a link", func(t *testing.T) {
		f := bridge(t, 64, 48)
		f.dv.queryErr = unix.ENOLINK
		_, err := openFake(t, f, Config{})
		require.ErrorIs(t, err, ErrNoSignal)
		assert.Equal(t, "[QUERYCAP QUERY_DV_TIMINGS]", f.callLog(), "no buffers were asked for")
		f.checkReleased(t)
	})
}

// bridge is a TC358743 behind the Pi's unicam: UYVY (and RGB) at the HDMI input's timings.
func bridge(t *testing.T, w, h int) *fakeDev {
	f := newFake(t)
	f.card, f.timePerFrame = "unicam", false
	f.formats = []fakeFormat{{fcc: fcc("RGB3")}, {fcc: fccUYVY}}
	// 1080p60 timings (CEA-861): 148.5 MHz, 2200×1125 total.
	f.dv = &fakeDV{w: w, h: h, pixclock: 148_500_000, hporch: [3]uint32{88, 44, 2200 - 1920 - 132}, vporch: [3]uint32{4, 5, 1125 - 1080 - 9}}
	f.frameFor = func(f *fakeDev, seq int) fakeFrame {
		return fakeFrame{planes: [][]byte{solidUYVY(f.cur.w, f.cur.h, byte(seq+1), 70, 170)}}
	}
	return f
}

func TestHDMISourceChange(t *testing.T) {
	f := bridge(t, 64, 48)
	video, err := openFake(t, f, Config{Width: 1920, Height: 1080})
	require.NoError(t, err)
	defer video.Close()
	assert.Equal(t, [2]int{64, 48}, f.dvSet, "S_DV_TIMINGS set the queried timings")
	assert.Equal(t, fourcc(fccUYVY), f.cur.fcc)
	assert.True(t, f.subscribed)
	fr, err := video.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 64, 48), fr.Image.Rect, "the input's size, not the spec's")
	assertSolid(t, fr.Image, 1, 70, 170)

	f.sourceChange(32, 16)
	fr, err = video.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 32, 16), fr.Image.Rect)
	assert.True(t, fr.Cut, "the picture after a restart does not continue the old one")
	assertSolid(t, fr.Image, byte(f.seq), 70, 170)
	assert.Equal(t, [2]int{32, 16}, f.dvSet)
	w, h := video.(device.Sized).Size()
	assert.Equal(t, [2]int{32, 16}, [2]int{w, h})
	fr, err = video.Next(context.Background())
	require.NoError(t, err)
	assert.False(t, fr.Cut)
	assert.Zero(t, f.held())

	f.sourceChange(0, 0) // cable out
	_, err = video.Next(context.Background())
	require.ErrorIs(t, err, ErrNoSignal)
}

func TestDVTimingsRate(t *testing.T) {
	f := bridge(t, 1920, 1080)
	c := &capture{cfg: Config{}.withDefaults(), dev: f}
	var raw v4l2DVTimings
	f.dv.write((*[132]byte)(&raw))
	tm := parseDVTimings(&raw)
	assert.Equal(t, 1920, tm.w)
	assert.Equal(t, 1080, tm.h)
	assert.InDelta(t, 60.0, tm.fps, 0.001)
	_ = c
}

func TestMultiplanarNV12M(t *testing.T) {
	f := newFake(t)
	f.caps = capVideoCaptureMplane | capStreaming
	f.formats = []fakeFormat{{fcc: fccNV12M, stepwise: &[6]uint32{16, 4096, 16, 16, 2160, 2}}}
	f.padStride = 16
	f.frameFor = func(f *fakeDev, seq int) fakeFrame {
		y := bytes.Repeat([]byte{byte(30 + seq)}, f.cur.stride[0]*f.cur.h)
		uv := bytes.Repeat([]byte{11, 222}, f.cur.stride[1]*f.cur.h/4)
		return fakeFrame{planes: [][]byte{y, uv}}
	}
	video, err := openFake(t, f, Config{MaxWidth: 100, MaxHeight: 50})
	require.NoError(t, err)
	defer video.Close()
	assert.Equal(t, [2]int{96, 50}, [2]int{f.cur.w, f.cur.h}, "the largest stepwise size within the bound")
	fr, err := video.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 96, 50), fr.Image.Rect)
	assertSolid(t, fr.Image, 30, 11, 222)
	assert.Zero(t, f.held())
}

func TestH264Passthrough(t *testing.T) {
	f := newFake(t)
	f.formats = []fakeFormat{{fcc: fccMJPG, sizes: []fakeSize{{64, 48, fps(30)}}}, {fcc: fccH264, sizes: []fakeSize{{64, 48, fps(30)}}}}
	idr := []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 0xAA, 0xBB}
	slice := []byte{0, 0, 0, 1, 0x41, 0xCC}
	frames := []fakeFrame{{planes: [][]byte{idr}}, {planes: [][]byte{slice}}, {planes: [][]byte{slice}, flags: bufFlagKeyframe}}
	f.frameFor = func(_ *fakeDev, seq int) fakeFrame { return frames[seq%len(frames)] }

	src := New(Config{Format: FormatH264})
	enc, ok := src.(device.Encoded)
	require.True(t, ok, "format=h264 declares its codec before connecting")
	assert.Equal(t, media.CodecH264, enc.Codec())
	_, isEnc := New(Config{}).(device.Encoded)
	assert.False(t, isEnc)

	video, err := openFake(t, f, Config{Format: FormatH264})
	require.NoError(t, err)
	defer video.Close()
	es, ok := video.(media.EncodedSource)
	require.True(t, ok)
	var got []bool
	for range 3 {
		fr, err := es.Next(context.Background())
		require.NoError(t, err)
		require.NotNil(t, fr.Encoded)
		assert.Nil(t, fr.Image)
		assert.Equal(t, media.CodecH264, fr.Encoded.Codec)
		got = append(got, fr.Encoded.Keyframe)
		if len(got) == 1 {
			assert.Equal(t, idr, fr.Encoded.Data)
			f.mu.Lock()
			for _, b := range f.bufs {
				clear(b.mem[0]) // the driver reuses its buffers: the frame must not alias them
			}
			f.mu.Unlock()
			assert.Equal(t, idr, fr.Encoded.Data)
		}
	}
	assert.Equal(t, []bool{true, false, true}, got, "IDR slice, plain slice, driver's keyframe flag")
	es.RequestKeyframe()
	_, err = es.Next(context.Background())
	require.NoError(t, err)
	f.mu.Lock()
	assert.Equal(t, 1, f.keyframes, "V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME was set")
	f.mu.Unlock()
}

func TestCaptureTime(t *testing.T) {
	f := dongle(t)
	c := &capture{cfg: Config{Clock: f.clock}, monoNow: f.monoNow}
	now := f.clock.Now()
	mono := f.monoNow()
	ts := func(d time.Duration) (int64, int64) { return int64(d / time.Second), int64(d % time.Second) }
	tests := []struct {
		name  string
		flags uint32
		at    time.Duration
		want  time.Time
	}{
		{"monotonic 20 ms ago", bufFlagTimestampMonotonic, mono - 20*time.Millisecond, now.Add(-20 * time.Millisecond)},
		{"in the future", bufFlagTimestampMonotonic, mono + time.Millisecond, now},
		{"too old", bufFlagTimestampMonotonic, mono - 2*time.Second, now},
		{"zero", bufFlagTimestampMonotonic, 0, now},
		{"copied from elsewhere", 0x4000, mono - 20*time.Millisecond, now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec, ns := ts(tt.at)
			assert.Equal(t, tt.want, c.captureTime(&done{flags: tt.flags, sec: sec, ns: ns}))
		})
	}
}

func TestCloseAndCancelInterruptNext(t *testing.T) {
	for _, how := range []string{"close", "cancel"} {
		t.Run(how, func(t *testing.T) {
			f := dongle(t)
			first := true
			f.frameFor = func(*fakeDev, int) fakeFrame {
				if !first {
					return fakeFrame{}
				}
				first = false
				return fakeFrame{planes: [][]byte{solidYUYV(32, 24, 64, 1, 128, 128)}}
			}
			video, err := openFake(t, f, Config{Width: 32, Height: 24})
			require.NoError(t, err)
			_, err = video.Next(context.Background())
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			var nextErr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, nextErr = video.Next(ctx)
			}()
			// Next is (or soon will be) waiting in poll: nothing is coming.
			if how == "close" {
				require.NoError(t, video.Close())
				wg.Wait()
				assert.ErrorIs(t, nextErr, media.ErrClosed)
				f.checkReleased(t)
				return
			}
			cancel()
			wg.Wait()
			assert.ErrorIs(t, nextErr, context.Canceled)
			require.NoError(t, video.Close())
			f.checkReleased(t)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeDev)
		cfg     Config
		is      error
		errLike string
	}{
		{name: "metadata node", setup: func(f *fakeDev) { f.caps = 0x00800000 | capStreaming }, errLike: "not a video capture node"},
		{name: "no streaming", setup: func(f *fakeDev) { f.caps = capVideoCapture }, errLike: "does not support streaming"},
		{name: "busy", setup: func(f *fakeDev) { f.busy = true }, is: ErrBusy},
		{name: "unreadable formats", setup: func(f *fakeDev) { f.formats = []fakeFormat{{fcc: fcc("RGB3"), sizes: []fakeSize{{64, 48, nil}}}} }, errLike: "unsupported pixel format: the device offers RGB3"},
		{name: "size not offered", cfg: Config{Width: 800, Height: 600}, errLike: "does not capture 800x600; it offers 64x48, 32x24"},
		{name: "one buffer", setup: func(f *fakeDev) { f.maxBuffers = 1 }, errLike: "allocated 1 buffers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := dongle(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			_, err := openFake(t, f, tt.cfg)
			require.Error(t, err)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			assert.Contains(t, err.Error(), tt.errLike)
			f.checkReleased(t)
		})
	}
}

func TestFactory(t *testing.T) {
	c := device.Catalog{Sources: map[string]device.SourceFactory{Scheme: NewDeviceSource}}
	src, err := c.Source("v4l2:///dev/video7?format=h264", device.Options{})
	require.NoError(t, err)
	assert.Equal(t, "v4l2:///dev/video7?format=h264", src.String())
	_, ok := src.(device.Encoded)
	assert.True(t, ok)
	_, err = c.Source("v4l2:///dev/video7?size=big", device.Options{})
	require.Error(t, err)

	// Opening a node that is not there says what to check.
	src, err = c.Source("v4l2:///dev/kvmrelay-no-such-video", device.Options{})
	require.NoError(t, err)
	_, err = src.Open(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is it plugged in?")
	// A file that is not a device node is refused before any ioctl.
	src, err = c.Source("v4l2:///dev/null", device.Options{})
	require.NoError(t, err)
	_, err = src.Open(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/dev/null is not a V4L2 device")
	// A regular file is not a device node at all.
	file := t.TempDir() + "/video0"
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	src, err = c.Source("v4l2://"+file, device.Options{})
	require.NoError(t, err)
	_, err = src.Open(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a device node")
}
