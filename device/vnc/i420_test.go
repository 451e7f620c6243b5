package vnc

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// TestConvertRGBA: luma equals image/color's for every pixel; chroma is that of each 2×2
// block's mean colour; an odd-sized picture is padded by repeating its edge; only the damaged
// blocks change.
func TestConvertRGBA(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := image.NewRGBA(image.Rect(0, 0, 37, 21))
	for i := range src.Pix {
		src.Pix[i] = uint8(rng.IntN(256))
	}
	dst := newI420(37, 21)
	require.Equal(t, image.Rect(0, 0, 38, 22), dst.Rect)
	convertRGBA(dst, src, dst.Rect)
	at := func(x, y int) color.RGBA { return src.RGBAAt(min(x, 36), min(y, 20)) }
	for y := range 22 {
		for x := range 38 {
			p := at(x, y)
			wantY, _, _ := color.RGBToYCbCr(p.R, p.G, p.B)
			require.Equal(t, wantY, dst.Y[y*dst.YStride+x], "luma at %d,%d", x, y)
		}
	}
	for cy := range 11 {
		for cx := range 19 {
			var r, g, b int
			for _, d := range []image.Point{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				p := at(2*cx+d.X, 2*cy+d.Y)
				r, g, b = r+int(p.R), g+int(p.G), b+int(p.B)
			}
			_, wantCb, wantCr := color.RGBToYCbCr(uint8((r+2)/4), uint8((g+2)/4), uint8((b+2)/4))
			o := cy*dst.CStride + cx
			assert.InDelta(t, int(wantCb), int(dst.Cb[o]), 1, "cb at %d,%d", cx, cy)
			assert.InDelta(t, int(wantCr), int(dst.Cr[o]), 1, "cr at %d,%d", cx, cy)
		}
	}

	// Damage one pixel: its 2×2 block changes, nothing else.
	before := image.NewYCbCr(dst.Rect, image.YCbCrSubsampleRatio420)
	copy(before.Y, dst.Y)
	src.SetRGBA(5, 7, color.RGBA{255, 255, 255, 255})
	convertRGBA(dst, src, image.Rect(5, 7, 6, 8))
	for y := range 22 {
		for x := range 38 {
			changed := dst.Y[y*dst.YStride+x] != before.Y[y*dst.YStride+x]
			if changed {
				assert.True(t, image.Pt(x, y).In(image.Rect(4, 6, 6, 8)), "pixel %d,%d outside the damage changed", x, y)
			}
		}
	}
	assert.Equal(t, uint8(255), dst.Y[7*dst.YStride+5])
}

// TestCursorDrawn: the cursor's opaque pixels land at the pointer minus the hotspot, clipped
// at the picture's edges; transparent ones leave the picture alone.
func TestCursorDrawn(t *testing.T) {
	shape := image.NewRGBA(image.Rect(0, 0, 3, 2))
	shape.SetRGBA(0, 0, color.RGBA{255, 255, 255, 255})
	shape.SetRGBA(2, 1, color.RGBA{255, 255, 255, 255})
	c := newCursorShape(rfb.Cursor{Image: shape, Hotspot: image.Pt(1, 1)})
	img := newI420(8, 8)
	c.draw(img, image.Pt(4, 4))
	var white []image.Point
	for y := range 8 {
		for x := range 8 {
			if img.Y[y*img.YStride+x] == 255 {
				white = append(white, image.Pt(x, y))
			}
		}
	}
	assert.Equal(t, []image.Point{{3, 3}, {5, 4}}, white)
	assert.Equal(t, image.Rect(2, 2, 6, 6), c.bounds(image.Pt(4, 4)))
	c.draw(img, image.Pt(0, 0)) // partly off the picture: no panic, (1, 0) drawn
	assert.Equal(t, uint8(255), img.Y[0*img.YStride+1])
	c.draw(img, image.Pt(-100, 1000))
	assert.Nil(t, newCursorShape(rfb.Cursor{}), "a hidden cursor draws nothing")
}
