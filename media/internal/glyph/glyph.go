// Package glyph draws ASCII text into the luma plane of an I420 picture: basicfont's 7×13
// face scaled up by an integer factor and pre-rendered as rows of final luma values for one
// foreground/background pair, so drawing text is row copies. The test pattern and the
// no-signal card both use it.
package glyph

import (
	"image"

	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Face is a pre-rendered, scaled font for one foreground/background luma pair.
type Face struct {
	adv, height int // cell size in pixels
	pix         [0x7f - 0x20][]byte
}

// Cell size of the unscaled face in pixels.
const (
	FaceAdvance = 7
	FaceHeight  = 13
)

// New renders basicfont's 7×13 face at scale with luma fg on bg.
func New(scale int, fg, bg uint8) *Face {
	scale = max(scale, 1)
	face := basicfont.Face7x13
	g := &Face{adv: FaceAdvance * scale, height: FaceHeight * scale}
	for r := rune(0x20); r < 0x7f; r++ {
		pix := make([]byte, g.adv*g.height)
		for i := range pix {
			pix[i] = bg
		}
		dr, mask, mp, _, ok := face.Glyph(fixed.P(0, face.Ascent), r)
		if ok {
			for y := dr.Min.Y; y < dr.Max.Y; y++ {
				for x := dr.Min.X; x < dr.Max.X; x++ {
					if _, _, _, a := mask.At(mp.X+x-dr.Min.X, mp.Y+y-dr.Min.Y).RGBA(); a < 0x8000 {
						continue
					}
					for sy := range scale {
						row := pix[(y*scale+sy)*g.adv:]
						for sx := range scale {
							row[x*scale+sx] = fg
						}
					}
				}
			}
		}
		g.pix[r-0x20] = pix
	}
	return g
}

// Advance is the width of one character cell in pixels.
func (g *Face) Advance() int { return g.adv }

// Height is the height of one character cell in pixels.
func (g *Face) Height() int { return g.height }

// Draw writes text's luma with its top-left cell at p, only inside clip. Bytes the face lacks
// are drawn as '?'.
func (g *Face) Draw(img *image.YCbCr, p image.Point, text string, clip image.Rectangle) {
	clip = clip.Intersect(img.Rect)
	for i, r := range []byte(text) {
		cell := image.Rect(p.X+i*g.adv, p.Y, p.X+(i+1)*g.adv, p.Y+g.height)
		vis := cell.Intersect(clip)
		if vis.Empty() {
			if cell.Min.X >= clip.Max.X {
				return
			}
			continue
		}
		if r < 0x20 || r >= 0x7f {
			r = '?'
		}
		pix := g.pix[r-0x20]
		x0, n := vis.Min.X-cell.Min.X, vis.Dx()
		for y := vis.Min.Y; y < vis.Max.Y; y++ {
			src := pix[(y-cell.Min.Y)*g.adv+x0:]
			o := img.YOffset(vis.Min.X, y)
			copy(img.Y[o:o+n], src[:n])
		}
	}
}
