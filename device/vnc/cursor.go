package vnc

import (
	"image"
	"image/color"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// cursorShape is the server's cursor converted once to Y′CbCr, ready to draw on every frame.
type cursorShape struct {
	rfb     rfb.Cursor
	ycc     []color.YCbCr
	opaque  []bool
	w, h    int
	hotspot image.Point
}

func newCursorShape(c rfb.Cursor) *cursorShape {
	if c.Image == nil {
		return nil
	}
	b := c.Image.Rect
	s := &cursorShape{rfb: c, w: b.Dx(), h: b.Dy(), hotspot: c.Hotspot}
	s.ycc = make([]color.YCbCr, s.w*s.h)
	s.opaque = make([]bool, s.w*s.h)
	for y := range s.h {
		for x := range s.w {
			p := c.Image.RGBAAt(b.Min.X+x, b.Min.Y+y)
			i := y*s.w + x
			s.opaque[i] = p.A != 0
			yy, cb, cr := color.RGBToYCbCr(p.R, p.G, p.B)
			s.ycc[i] = color.YCbCr{Y: yy, Cb: cb, Cr: cr}
		}
	}
	return s
}

// bounds is where the shape lands with the pointer at p, grown to even coordinates.
func (s *cursorShape) bounds(p image.Point) image.Rectangle {
	o := p.Sub(s.hotspot)
	return evenRect(image.Rect(o.X, o.Y, o.X+s.w, o.Y+s.h))
}

// draw paints the opaque pixels of the shape onto img with the pointer at p.
func (s *cursorShape) draw(img *image.YCbCr, p image.Point) {
	o := p.Sub(s.hotspot)
	for y := range s.h {
		fy := o.Y + y
		if fy < 0 || fy >= img.Rect.Max.Y {
			continue
		}
		for x := range s.w {
			fx := o.X + x
			i := y*s.w + x
			if fx < 0 || fx >= img.Rect.Max.X || !s.opaque[i] {
				continue
			}
			c := s.ycc[i]
			img.Y[fy*img.YStride+fx] = c.Y
			co := (fy/2)*img.CStride + fx/2
			img.Cb[co], img.Cr[co] = c.Cb, c.Cr
		}
	}
}
