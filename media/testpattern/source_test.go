package testpattern_test

import (
	"context"
	"image"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/mediatest"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
)

var start = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func newSource(t testing.TB, cfg testpattern.Config) *testpattern.Source {
	t.Helper()
	s, err := testpattern.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// testCtx bounds a test that waits on another goroutine; it never measures anything.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func press(t testing.TB, s *testpattern.Source, u hid.Usage) {
	t.Helper()
	require.NoError(t, s.Key(u, true))
	require.NoError(t, s.Key(u, false))
}

func TestStripShowsKeyDownCount(t *testing.T) {
	clk := mediatest.NewClock(start)
	s := newSource(t, testpattern.Config{Width: 640, Height: 360, Clock: clk})
	ctx := testCtx(t)
	checkpoints := []int{0, 1, 2, 3, 4, 7, 8, 255, 256, 1000, 0x5555, 0xAAAA, 0xFFFF, 0x10000, 0x10001, 0x12345}
	pressed := 0
	for _, n := range checkpoints {
		for ; pressed < n; pressed++ {
			// Every key-down counts: letters, modifiers, keys that type nothing.
			require.NoError(t, s.Key(hid.Usage(0x04+pressed%0xE4), true))
		}
		clk.Advance(time.Second)
		f, err := s.Next(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint64(n), s.KeyDownCount())
		assert.Equal(t, uint16(n), testpattern.DecodeStrip(f.Image), "count %d", n)
		assertStripExact(t, f.Image, uint16(n))
	}
}

// assertStripExact checks every pixel of the strip: full white or full black, neutral chroma.
func assertStripExact(t *testing.T, img *image.YCbCr, count uint16) {
	t.Helper()
	r := testpattern.StripRect()
	require.Equal(t, image.Rect(0, 0, 512, 32), r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			want := uint8(0)
			if count&(1<<(x/32)) != 0 {
				want = 255
			}
			c := img.YCbCrAt(x, y)
			if c.Y != want || c.Cb != 128 || c.Cr != 128 {
				t.Fatalf("strip pixel (%d,%d) = %v, want Y=%d for count %#x", x, y, c, want, count)
			}
		}
	}
}

func TestDecodeStrip(t *testing.T) {
	img := image.NewYCbCr(image.Rect(0, 0, 600, 40), image.YCbCrSubsampleRatio420)
	paint := func(count uint16, white, black uint8) {
		for y := range 32 {
			for x := range 512 {
				v := black
				if count&(1<<(x/32)) != 0 {
					v = white
				}
				img.Y[y*img.YStride+x] = v
			}
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 200 {
		count := uint16(rng.UintN(1 << 16))
		// Decoded video is never exact: limited-range levels and codec noise.
		paint(count, 235, 16)
		assert.Equal(t, count, testpattern.DecodeStrip(img))
		paint(count, 140, 110)
		assert.Equal(t, count, testpattern.DecodeStrip(img))
	}
	assert.Zero(t, testpattern.DecodeStrip(nil))
	assert.Zero(t, testpattern.DecodeStrip(image.NewYCbCr(image.Rect(0, 0, 100, 100), image.YCbCrSubsampleRatio420)))

	// A sub-image whose origin is not (0,0) reads from its own corner.
	paint(0x8001, 255, 0)
	big := image.NewYCbCr(image.Rect(0, 0, 700, 100), image.YCbCrSubsampleRatio420)
	for y := range 32 {
		copy(big.Y[(y+10)*big.YStride+20:], img.Y[y*img.YStride:y*img.YStride+512])
	}
	sub := big.SubImage(image.Rect(20, 10, 700, 100)).(*image.YCbCr)
	assert.Equal(t, uint16(0x8001), testpattern.DecodeStrip(sub))
}

func TestNothingDrawsOverStrip(t *testing.T) {
	for _, motion := range []testpattern.Motion{testpattern.MotionBar, testpattern.MotionNone, testpattern.MotionFull} {
		clk := mediatest.NewClock(start)
		s := newSource(t, testpattern.Config{Width: 1280, Height: 720, Motion: motion, Clock: clk})
		ctx := testCtx(t)
		// The pointer visits the strip, its edges and the corner, with buttons held.
		for _, p := range []image.Point{{0, 0}, {10, 10}, {511, 31}, {512, 32}, {530, 10}, {200, 40}, {0, 0}} {
			require.NoError(t, s.Pointer(hid.PointerEvent{
				Absolute: true, X: p.X * hid.AbsMax / 1279, Y: p.Y * hid.AbsMax / 719, Buttons: hid.ButtonLeft,
			}))
			press(t, s, 0x04)
			clk.Advance(time.Second)
			f, err := s.Next(ctx)
			require.NoError(t, err)
			assertStripExact(t, f.Image, uint16(s.KeyDownCount()))
		}
	}
}

func TestDamageDriven(t *testing.T) {
	clk := mediatest.NewClock(start)
	// One steady frame a second: any frame sooner can only come from input.
	s := newSource(t, testpattern.Config{Width: 640, Height: 360, FPS: 1, MaxFPS: 100, Clock: clk})
	ctx := testCtx(t)

	type result struct {
		f   media.Frame
		err error
	}
	next := func() <-chan result {
		ch := make(chan result, 1)
		go func() {
			f, err := s.Next(ctx)
			ch <- result{f, err}
		}()
		return ch
	}
	wait := func(ch <-chan result) media.Frame {
		t.Helper()
		select {
		case r := <-ch:
			require.NoError(t, r.err)
			return r.f
		case <-ctx.Done():
			t.Fatal("Next did not return")
			return media.Frame{}
		}
	}
	parked := func(deadline time.Time) {
		t.Helper()
		require.NoError(t, clk.WaitDeadline(ctx, deadline), "Next must wait for %v", deadline)
	}

	// The first frame comes at once.
	f := wait(next())
	assert.Equal(t, start, f.CaptureTime)

	// Without input Next waits for the steady tick.
	ch := next()
	parked(start.Add(time.Second))
	clk.Advance(50 * time.Millisecond)
	select {
	case <-ch:
		t.Fatal("a frame without input before the steady tick")
	default:
	}

	// A key press produces a frame at once: the clock does not move.
	require.NoError(t, s.Key(0x04, true))
	f = wait(ch)
	assert.Equal(t, start.Add(50*time.Millisecond), f.CaptureTime)
	assert.Equal(t, uint16(1), testpattern.DecodeStrip(f.Image))

	// Input right after a frame waits out 1/MaxFPS (10 ms), not the steady second.
	ch = next()
	parked(start.Add(50*time.Millisecond + time.Second))
	require.NoError(t, s.Key(0x04, false))
	parked(start.Add(60 * time.Millisecond))
	clk.Advance(10 * time.Millisecond)
	f = wait(ch)
	assert.Equal(t, start.Add(60*time.Millisecond), f.CaptureTime)

	// Pointer input is damage too.
	ch = next()
	parked(start.Add(60*time.Millisecond + time.Second))
	clk.Advance(20 * time.Millisecond)
	require.NoError(t, s.Pointer(hid.PointerEvent{Absolute: true, X: 1000, Y: 1000}))
	f = wait(ch)
	assert.Equal(t, start.Add(80*time.Millisecond), f.CaptureTime)

	// And without input, the steady tick.
	ch = next()
	parked(start.Add(80*time.Millisecond + time.Second))
	clk.Advance(time.Second)
	f = wait(ch)
	assert.Equal(t, start.Add(80*time.Millisecond+time.Second), f.CaptureTime)
	assert.Equal(t, uint16(1), testpattern.DecodeStrip(f.Image))
}

func TestCloseAndCancel(t *testing.T) {
	clk := mediatest.NewClock(start)
	s, err := testpattern.New(testpattern.Config{Width: 640, Height: 360, Clock: clk})
	require.NoError(t, err)
	ctx := testCtx(t)
	_, err = s.Next(ctx)
	require.NoError(t, err)

	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(cctx)
		errc <- err
	}()
	require.NoError(t, clk.WaitTimers(ctx, 1))
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)

	go func() {
		_, err := s.Next(ctx)
		errc <- err
	}()
	require.NoError(t, clk.WaitTimers(ctx, 1))
	require.NoError(t, s.Close())
	require.ErrorIs(t, <-errc, media.ErrClosed)
	require.NoError(t, s.Close(), "Close twice")
	assert.ErrorIs(t, s.Key(0x04, true), media.ErrClosed)
	assert.ErrorIs(t, s.Pointer(hid.PointerEvent{}), media.ErrClosed)
	assert.Zero(t, clk.Timers(), "no timer left behind")
}

func TestConcurrentInput(t *testing.T) {
	// Real clock: input, frames and Close race for real; run with -race.
	s, err := testpattern.New(testpattern.Config{Width: 640, Height: 360, FPS: 60, MaxFPS: 1000})
	require.NoError(t, err)
	ctx := testCtx(t)

	const writers, keysEach = 4, 500
	var inputs sync.WaitGroup
	for w := range writers {
		inputs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range keysEach {
				u := hid.Usage(0x04 + rng.IntN(0x60))
				assert.NoError(t, s.Key(u, true))
				assert.NoError(t, s.Pointer(hid.PointerEvent{
					Absolute: true, X: rng.IntN(hid.AbsMax + 1), Y: rng.IntN(hid.AbsMax + 1),
					Buttons: hid.Buttons(i) & hid.ButtonsValid, WheelY: 1,
				}))
				assert.NoError(t, s.Key(u, false))
			}
		})
	}
	frames := make(chan int, 1)
	go func() {
		n := 0
		for {
			if _, err := s.Next(ctx); err != nil {
				frames <- n
				return
			}
			n++
		}
	}()
	inputs.Wait()
	require.Equal(t, uint64(writers*keysEach), s.KeyDownCount())
	require.NoError(t, s.Close())
	assert.Positive(t, <-frames)

	// A fresh source to read the final count from the strip once input has stopped.
	s2 := newSource(t, testpattern.Config{Width: 640, Height: 360, MaxFPS: 1000})
	for range 300 {
		require.NoError(t, s2.Key(0xE1, true))
	}
	f, err := s2.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint16(300), testpattern.DecodeStrip(f.Image))
}

func TestConfig(t *testing.T) {
	for _, cfg := range []testpattern.Config{
		{Width: 641, Height: 360},
		{Width: 400, Height: 360}, // narrower than the strip
		{Width: 640, Height: 100},
		{Width: 640, Height: 360, Motion: 9},
	} {
		_, err := testpattern.New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	s := newSource(t, testpattern.Config{Width: 1920, Height: 1080})
	w, h := s.Size()
	assert.Equal(t, []int{1920, 1080}, []int{w, h})
}
