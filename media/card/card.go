// Package card draws the picture a console shows when there is no live one: "No signal", what
// happened and what the agent is doing about it. A frozen last frame would look like a hung
// machine; a card says the truth.
package card

import (
	"image"

	"github.com/kvmrelay/kvmrelay/media/internal/glyph"
)

// Luma values of the card: dark grey background, white title, light grey detail. Chroma is
// neutral: the card is grey.
const (
	background = 24
	titleLuma  = 235
	detailLuma = 180
	neutral    = 128
)

// Card is a message to draw: a title line and detail lines.
type Card struct {
	Title  string
	Detail []string
}

// Draw renders c into a new w×h I420 picture (w and h are rounded up to even). Lines too long
// for the width are cut with an ellipsis.
func Draw(w, h int, c Card) *image.YCbCr {
	w, h = max(w+w%2, 64), max(h+h%2, 64)
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	fill(img.Y, background)
	fill(img.Cb, neutral)
	fill(img.Cr, neutral)

	// The detail font fits 64 characters across; the title is twice its size, at least 1×.
	detailScale := max(1, w/(64*glyph.FaceAdvance))
	titleScale := max(1, min(2*detailScale, w/(max(len(c.Title), 1)*glyph.FaceAdvance)))
	title := glyph.New(titleScale, titleLuma, background)
	detail := glyph.New(detailScale, detailLuma, background)

	lineGap := detail.Height() / 2
	total := title.Height() + lineGap + len(c.Detail)*(detail.Height()+lineGap)
	y := max(0, (h-total)/2)
	drawCentred(img, title, c.Title, y)
	y += title.Height() + lineGap*2
	for _, line := range c.Detail {
		drawCentred(img, detail, line, y)
		y += detail.Height() + lineGap
	}
	return img
}

func drawCentred(img *image.YCbCr, f *glyph.Face, text string, y int) {
	w := img.Rect.Dx()
	if fit := w/f.Advance() - 2; len(text) > fit && fit > 3 {
		text = text[:fit-3] + "..."
	}
	x := max(0, (w-len(text)*f.Advance())/2)
	f.Draw(img, image.Pt(x, y), text, img.Rect)
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}
