package scale

import (
	"image"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func picture(w, h int, fill func(x, y int) byte) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[y*img.YStride+x] = fill(x, y)
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 90, 200
	}
	return img
}

func TestScaleKeepsFlatColours(t *testing.T) {
	for _, sz := range [][4]int{{1920, 1080, 1280, 720}, {1920, 1080, 960, 540}, {1024, 768, 640, 480}, {720, 400, 480, 266}} {
		src := picture(sz[0], sz[1], func(int, int) byte { return 77 })
		out := New(sz[0], sz[1], sz[2], sz[3]).Scale(src)
		require.Equal(t, image.Rect(0, 0, sz[2], sz[3]), out.Rect)
		for _, v := range out.Y {
			require.Equal(t, byte(77), v)
		}
		for i := range out.Cb {
			require.Equal(t, byte(90), out.Cb[i])
			require.Equal(t, byte(200), out.Cr[i])
		}
	}
}

// Halving averages 2×2 blocks exactly; a 1-pixel line is kept as a half-bright line, not lost.
func TestScaleHalvesByAveraging(t *testing.T) {
	src := picture(8, 4, func(x, y int) byte {
		if x == 3 {
			return 255
		}
		return 0
	})
	out := New(8, 4, 4, 2).Scale(src)
	assert.Equal(t, []byte{0, 128, 0, 0}, out.Y[:4], "the line survives at half intensity")

	rng := rand.New(rand.NewPCG(1, 2))
	src = picture(64, 32, func(int, int) byte { return byte(rng.IntN(256)) })
	out = New(64, 32, 32, 16).Scale(src)
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			sum := int(src.Y[2*y*64+2*x]) + int(src.Y[2*y*64+2*x+1]) + int(src.Y[(2*y+1)*64+2*x]) + int(src.Y[(2*y+1)*64+2*x+1])
			assert.InDelta(t, float64(sum)/4, float64(out.Y[y*out.YStride+x]), 0.51, "(%d,%d)", x, y)
		}
	}
}

func TestScaleReadsSubImages(t *testing.T) {
	full := picture(100, 100, func(x, y int) byte {
		if x >= 10 && y >= 10 {
			return 200
		}
		return 0
	})
	sub := full.SubImage(image.Rect(10, 10, 74, 42)).(*image.YCbCr)
	out := New(64, 32, 32, 16).Scale(sub)
	for _, v := range out.Y {
		require.Equal(t, byte(200), v)
	}
}

func BenchmarkScale1080pTo720p(b *testing.B) {
	src := picture(1920, 1080, func(x, y int) byte { return byte(x ^ y) })
	s := New(1920, 1080, 1280, 720)
	b.ReportAllocs()
	for b.Loop() {
		s.Scale(src)
	}
}
