package testpattern

import (
	"image"

	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// glyphs is basicfont's 7×13 face scaled up by an integer factor and pre-rendered as rows of
// final luma values for one foreground/background pair, so drawing text is row copies.
type glyphs struct {
	adv, height int // cell size in pixels
	pix         [0x7f - 0x20][]byte
}

const (
	faceAdvance = 7
	faceHeight  = 13
)

func newGlyphs(scale int, fg, bg uint8) *glyphs {
	face := basicfont.Face7x13
	g := &glyphs{adv: faceAdvance * scale, height: faceHeight * scale}
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

// draw writes text's luma with its top-left cell at p, only inside clip. Runes the face lacks
// are drawn as '?'.
func (g *glyphs) draw(c *canvas, p image.Point, text string, clip image.Rectangle) {
	clip = clip.Intersect(c.bounds())
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
			o := y*c.img.YStride + vis.Min.X
			copy(c.img.Y[o:o+n], src[:n])
		}
	}
}
