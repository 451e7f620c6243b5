package testpattern

import (
	"bytes"
	"context"
	"image"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/media/mediatest"
)

const shift = hid.UsageLeftShift

func typeKeys(t *testing.T, s *Source, keys ...hid.Usage) {
	t.Helper()
	for _, k := range keys {
		require.NoError(t, s.Key(k, true))
		require.NoError(t, s.Key(k, false))
	}
}

func TestTyping(t *testing.T) {
	const (
		a, h, e, l, o, w, r, d = 0x04, 0x0B, 0x08, 0x0F, 0x12, 0x1A, 0x15, 0x07
		one, comma, slash      = 0x1E, 0x36, 0x38
		c                      = 0x06
	)
	s, err := New(Config{Width: 640, Height: 360})
	require.NoError(t, err)
	defer s.Close()

	require.NoError(t, s.Key(shift, true))
	typeKeys(t, s, h)
	require.NoError(t, s.Key(shift, false))
	typeKeys(t, s, e, l, l, o, comma, usageSpace, w, o, r, l, d)
	require.NoError(t, s.Key(hid.UsageRightShift, true))
	typeKeys(t, s, one, slash)
	require.NoError(t, s.Key(hid.UsageRightShift, false))
	assert.Equal(t, "Hello, world!?", s.in.line)

	typeKeys(t, s, usageBackspace, usageBackspace)
	assert.Equal(t, "Hello, world", s.in.line)

	// Shortcuts do not type.
	require.NoError(t, s.Key(hid.UsageLeftCtrl, true))
	typeKeys(t, s, c)
	require.NoError(t, s.Key(hid.UsageLeftCtrl, false))
	assert.Equal(t, "Hello, world", s.in.line)

	typeKeys(t, s, usageEnter)
	assert.Equal(t, "", s.in.line)
	assert.Equal(t, "Hello, world", s.in.prev)

	typeKeys(t, s, usageCapsLock, a)
	require.NoError(t, s.Key(shift, true))
	typeKeys(t, s, a, one)
	require.NoError(t, s.Key(shift, false))
	assert.Equal(t, "Aa!", s.in.line, "caps lock inverts shift for letters only")

	for range 100 {
		typeKeys(t, s, 0x27) // '0'
	}
	assert.Len(t, s.in.line, typedChars, "only the last characters are kept")

	// Key-downs counted: every press above, modifiers and shortcuts included.
	assert.Equal(t, uint64(2+11+3+2+2+1+2+3+100), s.KeyDownCount())
}

func TestChar(t *testing.T) {
	tests := []struct {
		u     hid.Usage
		shift bool
		want  byte
	}{
		{0x04, false, 'a'}, {0x1D, true, 'Z'}, {0x1E, false, '1'}, {0x27, true, ')'},
		{0x2D, false, '-'}, {0x2D, true, '_'}, {0x31, true, '|'}, {0x34, true, '"'},
		{0x35, false, '`'}, {0x38, true, '?'}, {0x54, false, '/'}, {0x59, false, '1'},
		{0x62, false, '0'}, {0x63, false, '.'}, {0x58, false, 0}, {0x29, false, 0}, {0x3A, false, 0},
	}
	for _, tt := range tests {
		assert.Equal(t, string(rune(tt.want)), string(rune(char(tt.u, tt.shift, false))), "usage %#x shift %v", tt.u, tt.shift)
	}
}

// TestIncrementalMatchesFull drives random input and checks after every frame that the
// damage-only repaint left exactly the picture a full repaint draws.
func TestIncrementalMatchesFull(t *testing.T) {
	for _, motion := range []Motion{MotionBar, MotionNone, MotionFull} {
		clk := mediatest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
		s, err := New(Config{Width: 800, Height: 480, Motion: motion, Clock: clk})
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(uint64(motion), 3))
		for frame := range 150 {
			for range rng.IntN(4) {
				switch rng.IntN(4) {
				case 0, 1:
					require.NoError(t, s.Key(hid.Usage(0x04+rng.IntN(0x40)), rng.IntN(3) > 0))
				case 2:
					require.NoError(t, s.Pointer(hid.PointerEvent{
						Absolute: true, X: rng.IntN(hid.AbsMax + 1), Y: rng.IntN(hid.AbsMax + 1),
						Buttons: hid.Buttons(rng.IntN(32)),
					}))
				case 3:
					require.NoError(t, s.Pointer(hid.PointerEvent{DX: rng.IntN(81) - 40, DY: rng.IntN(81) - 40, WheelY: 1}))
				}
			}
			clk.Advance(time.Second/30 + time.Duration(rng.IntN(40))*time.Millisecond) // always due
			f, err := s.Next(context.Background())
			require.NoError(t, err)

			ref := *s.scene
			ref.c = newCanvas(800, 480)
			ref.repaint(ref.c.bounds())
			drawStrip(ref.c, 0, ref.drawn.strip, true)
			if !bytes.Equal(ref.c.img.Y, f.Image.Y) || !bytes.Equal(ref.c.img.Cb, f.Image.Cb) || !bytes.Equal(ref.c.img.Cr, f.Image.Cr) {
				t.Fatalf("motion %d frame %d: incremental picture differs from a full repaint at %v",
					motion, frame, firstDiff(ref.c.img, f.Image))
			}
		}
		require.NoError(t, s.Close())
	}
}

func firstDiff(a, b *image.YCbCr) image.Point {
	for y := a.Rect.Min.Y; y < a.Rect.Max.Y; y++ {
		for x := a.Rect.Min.X; x < a.Rect.Max.X; x++ {
			if a.YCbCrAt(x, y) != b.YCbCrAt(x, y) {
				return image.Pt(x, y)
			}
		}
	}
	return image.Pt(-1, -1)
}

func TestLayoutFits(t *testing.T) {
	for _, sz := range []image.Point{{512, 240}, {640, 360}, {640, 480}, {800, 600}, {1024, 768}, {1280, 720}, {1920, 1080}, {3840, 2160}} {
		l, err := newLayout(sz.X, sz.Y, "kvmrelay test pattern 3840x2160 30/120 fps")
		require.NoError(t, err, "%v", sz)
		frame := image.Rect(0, 0, sz.X, sz.Y)
		all := []image.Rectangle{l.header, l.counter, l.band, l.keys, l.pointer, l.prev, l.line}
		for i, r := range all {
			assert.True(t, r.In(frame), "%v: row %d %v outside", sz, i, r)
			assert.False(t, r.Overlaps(StripRect()), "%v: row %d over the strip", sz, i)
			assert.Equal(t, r, evenOut(r), "%v: row %d not even-aligned", sz, i)
			for _, o := range all[i+1:] {
				assert.False(t, r.Overlaps(o), "%v: rows overlap", sz)
			}
		}
		if !l.bars.Empty() {
			assert.True(t, l.bars.In(frame))
			assert.False(t, l.bars.Overlaps(l.line))
		}
		t.Logf("%v: scale %d", sz, l.scale)
	}
}
