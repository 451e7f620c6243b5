package vnc

import (
	"image"
)

// Full-range BT.601 (JFIF), the colour space of every raw frame in kvmrelay (image/color's
// RGBToYCbCr), in 16-bit fixed point.
const (
	yR, yG, yB    = 19595, 38470, 7471
	cbR, cbG, cbB = -11056, -21712, 32768
	crR, crG, crB = 32768, -27440, -5328
)

func clamp8(v int32) uint8 {
	if uint32(v)&0xFF000000 == 0 {
		return uint8(v >> 16)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// evenRect grows r to even coordinates: each 2×2 luma block has one chroma sample, so a
// damaged rectangle is converted whole blocks at a time.
func evenRect(r image.Rectangle) image.Rectangle {
	return image.Rect(r.Min.X&^1, r.Min.Y&^1, (r.Max.X+1)&^1, (r.Max.Y+1)&^1)
}

// newI420 makes a picture of the framebuffer's size rounded up to even (encoders want even
// sizes); the padding row or column repeats the last one.
func newI420(w, h int) *image.YCbCr {
	return image.NewYCbCr(image.Rect(0, 0, (w+1)&^1, (h+1)&^1), image.YCbCrSubsampleRatio420)
}

// convertRGBA converts the rectangle r of src into dst: r is grown to even coordinates and
// clipped to dst, which may be one pixel wider and taller than src (the padding repeats src's
// last column and row).
func convertRGBA(dst *image.YCbCr, src *image.RGBA, r image.Rectangle) {
	r = evenRect(r).Intersect(dst.Rect)
	if r.Empty() || src.Rect.Empty() {
		return
	}
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		row0 := src.Pix[min(y, sh-1)*src.Stride:][:4*sw]
		row1 := src.Pix[min(y+1, sh-1)*src.Stride:][:4*sw]
		ly0 := dst.Y[y*dst.YStride:][:dst.Rect.Dx()]
		ly1 := dst.Y[(y+1)*dst.YStride:][:dst.Rect.Dx()]
		co := (y / 2) * dst.CStride
		cb := dst.Cb[co:][:dst.Rect.Dx()/2]
		cr := dst.Cr[co:][:dst.Rect.Dx()/2]
		// Whole 2×2 blocks inside src go the fast way; the padding column, if any, after.
		inside := min(r.Max.X, sw&^1)
		x := r.Min.X
		for ; x < inside; x += 2 {
			// block, written out: the compiler does not inline a call this size.
			p0, p1 := row0[4*x:4*x+8], row1[4*x:4*x+8]
			r00, g00, b00 := int32(p0[0]), int32(p0[1]), int32(p0[2])
			r01, g01, b01 := int32(p0[4]), int32(p0[5]), int32(p0[6])
			r10, g10, b10 := int32(p1[0]), int32(p1[1]), int32(p1[2])
			r11, g11, b11 := int32(p1[4]), int32(p1[5]), int32(p1[6])
			l0, l1 := ly0[x:x+2], ly1[x:x+2]
			l0[0] = uint8((yR*r00 + yG*g00 + yB*b00 + 1<<15) >> 16)
			l0[1] = uint8((yR*r01 + yG*g01 + yB*b01 + 1<<15) >> 16)
			l1[0] = uint8((yR*r10 + yG*g10 + yB*b10 + 1<<15) >> 16)
			l1[1] = uint8((yR*r11 + yG*g11 + yB*b11 + 1<<15) >> 16)
			rs, gs, bs := r00+r01+r10+r11, g00+g01+g10+g11, b00+b01+b10+b11
			cb[x/2] = clamp8((cbR*rs + cbG*gs + cbB*bs + 257<<17) >> 2)
			cr[x/2] = clamp8((crR*rs + crG*gs + crB*bs + 257<<17) >> 2)
		}
		for ; x < r.Max.X; x += 2 {
			a, c := 4*min(x, sw-1), 4*min(x+1, sw-1)
			block(row0[a], row0[a+1], row0[a+2], row0[c], row0[c+1], row0[c+2],
				row1[a], row1[a+1], row1[a+2], row1[c], row1[c+1], row1[c+2],
				ly0[x:x+2], ly1[x:x+2], &cb[x/2], &cr[x/2])
		}
	}
}

// block converts one 2×2 block: four lumas, and the chroma of the block's mean colour.
func block(r00, g00, b00, r01, g01, b01, r10, g10, b10, r11, g11, b11 uint8, ly0, ly1 []byte, cb, cr *uint8) {
	luma := func(r, g, b uint8) uint8 {
		return uint8((yR*int32(r) + yG*int32(g) + yB*int32(b) + 1<<15) >> 16)
	}
	ly0[0], ly0[1] = luma(r00, g00, b00), luma(r01, g01, b01)
	ly1[0], ly1[1] = luma(r10, g10, b10), luma(r11, g11, b11)
	// Sums of four, so the rounding constant is ×4 and the result shifted back by 2.
	rs := int32(r00) + int32(r01) + int32(r10) + int32(r11)
	gs := int32(g00) + int32(g01) + int32(g10) + int32(g11)
	bs := int32(b00) + int32(b01) + int32(b10) + int32(b11)
	*cb = clamp8((cbR*rs + cbG*gs + cbB*bs + 257<<17) >> 2)
	*cr = clamp8((crR*rs + crG*gs + crB*bs + 257<<17) >> 2)
}

// copyI420 copies the even-aligned rectangle r from src to dst (same size).
func copyI420(dst, src *image.YCbCr, r image.Rectangle) {
	r = evenRect(r).Intersect(dst.Rect).Intersect(src.Rect)
	if r.Empty() {
		return
	}
	n := r.Dx()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := y*src.YStride + r.Min.X
		copy(dst.Y[o:o+n], src.Y[o:o+n])
	}
	cn := n / 2
	for y := r.Min.Y / 2; y < r.Max.Y/2; y++ {
		o := y*src.CStride + r.Min.X/2
		copy(dst.Cb[o:o+cn], src.Cb[o:o+cn])
		copy(dst.Cr[o:o+cn], src.Cr[o:o+cn])
	}
}
