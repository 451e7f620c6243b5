package testpattern

import (
	"fmt"
	"image"

	"github.com/kvmrelay/kvmrelay/media/internal/glyph"
)

// layout places everything below the strip. Text rows use basicfont scaled by an integer
// factor so that a 43-character row fits the width (scale 4 at 1280 px and up, 2 at 640 px).
type layout struct {
	scale, pad int
	rowH       int

	header, counter, band, keys, pointer, prev, line image.Rectangle
	bars                                             image.Rectangle // static colour bars; may be empty
	barW, barStep                                    int
}

const (
	margin   = 8
	rowGap   = 8
	maxScale = 4
	// Characters per row: "> " + 40 typed + "_".
	lineChars    = 43
	typedChars   = 40
	counterChars = len("frame 00000000  00:00:00.000")
	keysChars    = len("keys 00000  mods CSAG  buttons LRMBF")
	pointerChars = len("pointer 0000,0000  wheel -0000,-0000")
	rows         = 7
)

func newLayout(w, h int, header string) (layout, error) {
	// A row is the glyph height (13 s) plus padding (2 s) above and below: 17 s, made even.
	top := StripRect().Max.Y + rowGap
	byWidth := (w - 2*margin) / (lineChars*glyph.FaceAdvance + 4)
	byHeight := (h - top - margin - rows*(rowGap+1)) / (rows * (glyph.FaceHeight + 4))
	s := min(maxScale, byWidth, byHeight)
	if s < 1 || w < StripRect().Dx() {
		return layout{}, fmt.Errorf("testpattern: %dx%d is too small for the pattern", w, h)
	}
	// Even sizes everywhere: chroma is subsampled 2×2.
	l := layout{scale: s, pad: 2 * s, rowH: ((glyph.FaceHeight+4)*s + 1) &^ 1, barW: 8 * s, barStep: 4 * s}
	y := top
	next := func(chars int) image.Rectangle {
		r := evenOut(image.Rect(margin, y, margin+chars*glyph.FaceAdvance*s+2*l.pad, y+l.rowH))
		y += l.rowH + rowGap
		return r
	}
	l.header = next(len(header))
	l.counter = next(counterChars)
	l.band = image.Rect(margin, y, w-margin, y+l.rowH)
	y += l.rowH + rowGap
	l.keys = next(keysChars)
	l.pointer = next(pointerChars)
	l.prev = next(lineChars)
	l.line = next(lineChars)
	if h-margin-y >= 16 {
		l.bars = image.Rect(margin, y, w-margin, h-margin)
	}
	return l, nil
}

// barRect is the moving bar's place in frame n.
func (l layout) barRect(n uint64) image.Rectangle {
	span := uint64(l.band.Dx() - l.barW)
	x := l.band.Min.X + int(n*uint64(l.barStep)%span)&^1
	return image.Rect(x, l.band.Min.Y+l.pad, x+l.barW, l.band.Max.Y-l.pad)
}
