package v4l2

import (
	"errors"
	"image"
)

// errShortFrame is returned for a buffer smaller than its format promises: the frame is
// dropped, never read past its end.
var errShortFrame = errors.New("v4l2: frame shorter than its format")

// newI420 returns dst when it is already a w×h 4:2:0 picture, else a new one.
func newI420(dst *image.YCbCr, w, h int) *image.YCbCr {
	if dst != nil && dst.Rect == image.Rect(0, 0, w, h) && dst.SubsampleRatio == image.YCbCrSubsampleRatio420 {
		return dst
	}
	return image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
}

// planeFits reports whether rows rows of rowBytes bytes, stride apart, fit in n bytes.
func planeFits(n, stride, rowBytes, rows int) bool {
	if rows <= 0 || rowBytes <= 0 {
		return true
	}
	return stride >= rowBytes && n >= rowBytes && (rows-1) <= (n-rowBytes)/stride
}

// packedOrder is where luma and chroma sit in a 4:2:2 packed macropixel (4 bytes, 2 pixels).
type packedOrder struct{ y0, u, y1, v int }

var (
	orderYUYV = packedOrder{y0: 0, u: 1, y1: 2, v: 3}
	orderUYVY = packedOrder{u: 0, y0: 1, v: 2, y1: 3}
)

// packed422ToI420 converts a packed 4:2:2 picture (YUYV, UYVY) of dst's size to I420 in dst.
// Chroma is the average of each pair of rows. An odd width still needs its last macropixel.
func packed422ToI420(dst *image.YCbCr, src []byte, stride int, o packedOrder) error {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	cw := (w + 1) / 2
	if !planeFits(len(src), stride, 4*cw, h) {
		return errShortFrame
	}
	for y := 0; y < h; y += 2 {
		r0 := src[y*stride : y*stride+4*cw]
		r1 := r0
		if y+1 < h {
			r1 = src[(y+1)*stride : (y+1)*stride+4*cw]
		}
		y0 := dst.Y[y*dst.YStride : y*dst.YStride+w]
		y1 := y0
		if y+1 < h {
			y1 = dst.Y[(y+1)*dst.YStride : (y+1)*dst.YStride+w]
		}
		cb := dst.Cb[(y/2)*dst.CStride : (y/2)*dst.CStride+cw]
		cr := dst.Cr[(y/2)*dst.CStride : (y/2)*dst.CStride+cw]
		for x := 0; x < cw; x++ {
			a := r0[4*x : 4*x+4 : 4*x+4]
			b := r1[4*x : 4*x+4 : 4*x+4]
			cb[x] = uint8((uint(a[o.u]) + uint(b[o.u]) + 1) >> 1)
			cr[x] = uint8((uint(a[o.v]) + uint(b[o.v]) + 1) >> 1)
			y0[2*x] = a[o.y0]
			y1[2*x] = b[o.y0]
			if 2*x+1 < w {
				y0[2*x+1] = a[o.y1]
				y1[2*x+1] = b[o.y1]
			}
		}
	}
	return nil
}

// yuyvToI420 is packed422ToI420 specialised for YUYV, the common case of USB dongles: the
// fixed byte order lets the compiler drop the index arithmetic. Even widths only.
func yuyvToI420(dst *image.YCbCr, src []byte, stride int) error {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	if w%2 != 0 {
		return packed422ToI420(dst, src, stride, orderYUYV)
	}
	cw := w / 2
	if !planeFits(len(src), stride, 4*cw, h) {
		return errShortFrame
	}
	for y := 0; y < h; y += 2 {
		r0 := src[y*stride : y*stride+4*cw]
		r1 := r0
		y0 := dst.Y[y*dst.YStride : y*dst.YStride+w]
		y1 := y0
		if y+1 < h {
			r1 = src[(y+1)*stride : (y+1)*stride+4*cw]
			y1 = dst.Y[(y+1)*dst.YStride : (y+1)*dst.YStride+w]
		}
		cb := dst.Cb[(y/2)*dst.CStride : (y/2)*dst.CStride+cw]
		cr := dst.Cr[(y/2)*dst.CStride : (y/2)*dst.CStride+cw]
		for x := range cb {
			a := r0[4*x : 4*x+4 : 4*x+4]
			b := r1[4*x : 4*x+4 : 4*x+4]
			l0 := y0[2*x : 2*x+2 : 2*x+2]
			l1 := y1[2*x : 2*x+2 : 2*x+2]
			l0[0], l0[1] = a[0], a[2]
			l1[0], l1[1] = b[0], b[2]
			cb[x] = uint8((uint(a[1]) + uint(b[1]) + 1) >> 1)
			cr[x] = uint8((uint(a[3]) + uint(b[3]) + 1) >> 1)
		}
	}
	return nil
}

// nv12ToI420 converts NV12 (a luma plane, then one plane of interleaved Cb Cr at half
// resolution both ways) to I420 in dst.
func nv12ToI420(dst *image.YCbCr, y []byte, yStride int, uv []byte, uvStride int) error {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	cw, ch := (w+1)/2, (h+1)/2
	if !planeFits(len(y), yStride, w, h) || !planeFits(len(uv), uvStride, 2*cw, ch) {
		return errShortFrame
	}
	copyPlane(dst.Y, dst.YStride, y, yStride, w, h)
	for r := 0; r < ch; r++ {
		s := uv[r*uvStride : r*uvStride+2*cw]
		cb := dst.Cb[r*dst.CStride : r*dst.CStride+cw]
		cr := dst.Cr[r*dst.CStride : r*dst.CStride+cw]
		for x := range cb {
			p := s[2*x : 2*x+2 : 2*x+2]
			cb[x], cr[x] = p[0], p[1]
		}
	}
	return nil
}

// i420Copy copies an I420 picture (three planes) into dst.
func i420Copy(dst *image.YCbCr, y []byte, yStride int, cb, cr []byte, cStride int) error {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	cw, ch := (w+1)/2, (h+1)/2
	if !planeFits(len(y), yStride, w, h) || !planeFits(len(cb), cStride, cw, ch) || !planeFits(len(cr), cStride, cw, ch) {
		return errShortFrame
	}
	copyPlane(dst.Y, dst.YStride, y, yStride, w, h)
	copyPlane(dst.Cb, dst.CStride, cb, cStride, cw, ch)
	copyPlane(dst.Cr, dst.CStride, cr, cStride, cw, ch)
	return nil
}

func copyPlane(dst []byte, dstStride int, src []byte, srcStride, w, h int) {
	for r := 0; r < h; r++ {
		copy(dst[r*dstStride:r*dstStride+w], src[r*srcStride:r*srcStride+w])
	}
}
