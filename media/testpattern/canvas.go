package testpattern

import "image"

// yuv is one colour in full-range 8-bit Y′CbCr.
type yuv struct{ y, u, v uint8 }

// canvas draws into an I420 picture. Every rectangle it fills has even coordinates, so each
// 2×2 block of luma has exactly one chroma sample and chroma never bleeds across shapes.
type canvas struct {
	img  *image.YCbCr
	w, h int
	// rows holds, per fill value, a row of that value as wide as the picture: filling is a
	// copy (memmove speed) instead of a byte loop.
	rows map[uint8][]byte
}

func newCanvas(w, h int) *canvas {
	return &canvas{
		img:  image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420),
		w:    w,
		h:    h,
		rows: map[uint8][]byte{},
	}
}

func (c *canvas) bounds() image.Rectangle { return c.img.Rect }

func (c *canvas) row(v uint8) []byte {
	r, ok := c.rows[v]
	if !ok {
		r = make([]byte, c.w)
		for i := range r {
			r[i] = v
		}
		c.rows[v] = r
	}
	return r
}

// fill paints r (even-aligned, inside the picture) with col.
func (c *canvas) fill(r image.Rectangle, col yuv) {
	r = r.Intersect(c.img.Rect)
	if r.Empty() {
		return
	}
	n := r.Dx()
	src := c.row(col.y)[:n]
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := y*c.img.YStride + r.Min.X
		copy(c.img.Y[o:o+n], src)
	}
	c.fillChroma(r, col)
}

// fillChroma paints only the chroma of r; luma is left to the caller (text, patterns).
func (c *canvas) fillChroma(r image.Rectangle, col yuv) {
	r = r.Intersect(c.img.Rect)
	if r.Empty() {
		return
	}
	x0, x1 := r.Min.X/2, (r.Max.X+1)/2
	n := x1 - x0
	us, vs := c.row(col.u)[:n], c.row(col.v)[:n]
	for y := r.Min.Y / 2; y < (r.Max.Y+1)/2; y++ {
		o := y*c.img.CStride + x0
		copy(c.img.Cb[o:o+n], us)
		copy(c.img.Cr[o:o+n], vs)
	}
}

// frameRect draws a hollow rectangle of thickness t inside r, clipped to clip.
func (c *canvas) frameRect(r image.Rectangle, t int, col yuv, clip image.Rectangle) {
	for _, side := range [...]image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+t)},
		{image.Pt(r.Min.X, r.Max.Y-t), r.Max},
		{image.Pt(r.Min.X, r.Min.Y+t), image.Pt(r.Min.X+t, r.Max.Y-t)},
		{image.Pt(r.Max.X-t, r.Min.Y+t), image.Pt(r.Max.X, r.Max.Y-t)},
	} {
		c.fill(side.Intersect(clip), col)
	}
}

// evenOut grows r to even coordinates.
func evenOut(r image.Rectangle) image.Rectangle {
	return image.Rect(r.Min.X&^1, r.Min.Y&^1, (r.Max.X+1)&^1, (r.Max.Y+1)&^1)
}
