package mjpeg

import (
	"encoding/binary"
	"fmt"
	"image"
)

// toI420 makes the 4:2:0 frame a decoded picture is, cropped to even dimensions. The luma
// plane is shared with src; 4:2:0 chroma is shared too, other subsamplings are averaged into
// c's reused planes. src's Rect must start at (0, 0). The result is c.out, valid until the next
// call.
type toI420 struct {
	cb, cr []byte
	out    image.YCbCr
}

func (c *toI420) convert(src *image.YCbCr) (*image.YCbCr, error) {
	w, h := src.Rect.Dx()&^1, src.Rect.Dy()&^1
	if w == 0 || h == 0 || src.Rect.Min != (image.Point{}) {
		return nil, fmt.Errorf("%w: %v picture", ErrUnsupported, src.Rect)
	}
	c.out = image.YCbCr{
		Y: src.Y, YStride: src.YStride,
		SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect:           image.Rect(0, 0, w, h),
	}
	if src.SubsampleRatio == image.YCbCrSubsampleRatio420 {
		c.out.Cb, c.out.Cr, c.out.CStride = src.Cb, src.Cr, src.CStride
		return &c.out, nil
	}
	cw, ch := w/2, h/2
	c.cb, c.cr = grow(c.cb, cw*ch), grow(c.cr, cw*ch)
	c.out.Cb, c.out.Cr, c.out.CStride = c.cb, c.cr, cw
	if err := checkPlanes(src); err != nil {
		return nil, err
	}
	var sub func(dst, src []byte, srcStride, cw, ch int)
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		sub = from422
	case image.YCbCrSubsampleRatio444:
		sub = from444
	case image.YCbCrSubsampleRatio440:
		sub = from440
	case image.YCbCrSubsampleRatio411:
		sub = from411
	case image.YCbCrSubsampleRatio410:
		sub = from410
	default:
		return nil, fmt.Errorf("%w: chroma subsampling %v", ErrUnsupported, src.SubsampleRatio)
	}
	sub(c.cb, src.Cb, src.CStride, cw, ch)
	sub(c.cr, src.Cr, src.CStride, cw, ch)
	return &c.out, nil
}

// checkPlanes makes sure src's planes hold every sample its strides and ratio promise, so the
// loops below cannot index out of range on a decoder's odd output.
func checkPlanes(src *image.YCbCr) error {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	cw, ch := w, h
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		cw = (w + 1) / 2
	case image.YCbCrSubsampleRatio440:
		ch = (h + 1) / 2
	case image.YCbCrSubsampleRatio411:
		cw = (w + 3) / 4
	case image.YCbCrSubsampleRatio410:
		cw, ch = (w+3)/4, (h+1)/2
	}
	need := (ch-1)*src.CStride + cw
	if src.CStride < cw || len(src.Cb) < need || len(src.Cr) < need ||
		src.YStride < w || len(src.Y) < (h-1)*src.YStride+w {
		return fmt.Errorf("mjpeg: decoded planes smaller than the picture")
	}
	return nil
}

// from422 halves the rows: each 4:2:0 sample is the mean of a vertical pair, rounded up,
// eight at a time in a uint64 (the byte-wise average (a|b) - ((a^b)&0xFE…)>>1 carries nothing
// across bytes).
func from422(dst, src []byte, stride, cw, ch int) {
	const lowBits = 0xFEFEFEFEFEFEFEFE
	for y := range ch {
		d := dst[y*cw : y*cw+cw]
		a := src[2*y*stride : 2*y*stride+cw]
		b := src[(2*y+1)*stride : (2*y+1)*stride+cw]
		x := 0
		for ; x+8 <= len(d); x += 8 {
			va := binary.LittleEndian.Uint64(a[x:])
			vb := binary.LittleEndian.Uint64(b[x:])
			binary.LittleEndian.PutUint64(d[x:], (va|vb)-((va^vb)&lowBits)>>1)
		}
		for ; x < len(d); x++ {
			d[x] = byte((uint(a[x]) + uint(b[x]) + 1) >> 1)
		}
	}
}

// from444 averages each 2×2 block.
func from444(dst, src []byte, stride, cw, ch int) {
	for y := range ch {
		d := dst[y*cw : y*cw+cw]
		a := src[2*y*stride : 2*y*stride+2*cw]
		b := src[(2*y+1)*stride : (2*y+1)*stride+2*cw]
		for x := range d {
			d[x] = byte((uint(a[2*x]) + uint(a[2*x+1]) + uint(b[2*x]) + uint(b[2*x+1]) + 2) >> 2)
		}
	}
}

// from440 halves the columns of rows that are already halved.
func from440(dst, src []byte, stride, cw, ch int) {
	for y := range ch {
		d := dst[y*cw : y*cw+cw]
		a := src[y*stride : y*stride+2*cw]
		for x := range d {
			d[x] = byte((uint(a[2*x]) + uint(a[2*x+1]) + 1) >> 1)
		}
	}
}

// from411 averages vertical pairs and repeats each sample twice across.
func from411(dst, src []byte, stride, cw, ch int) {
	for y := range ch {
		d := dst[y*cw : y*cw+cw]
		a := src[2*y*stride:]
		b := src[(2*y+1)*stride:]
		for x := range d {
			d[x] = byte((uint(a[x/2]) + uint(b[x/2]) + 1) >> 1)
		}
	}
}

// from410 repeats each sample twice across.
func from410(dst, src []byte, stride, cw, ch int) {
	for y := range ch {
		d := dst[y*cw : y*cw+cw]
		a := src[y*stride:]
		for x := range d {
			d[x] = a[x/2]
		}
	}
}

// grayI420 makes a 4:2:0 frame of a grayscale picture: neutral chroma, kept between calls.
type grayI420 struct {
	chroma []byte
	out    image.YCbCr
}

func (g *grayI420) convert(y []byte, stride, w, h int) (*image.YCbCr, error) {
	w, h = w&^1, h&^1
	if w == 0 || h == 0 || stride < w || len(y) < (h-1)*stride+w {
		return nil, fmt.Errorf("%w: %dx%d grayscale picture", ErrUnsupported, w, h)
	}
	n := w / 2 * h / 2
	if len(g.chroma) < n {
		g.chroma = make([]byte, n)
		for i := range g.chroma {
			g.chroma[i] = 128
		}
	}
	g.out = image.YCbCr{
		Y: y, YStride: stride, Cb: g.chroma, Cr: g.chroma, CStride: w / 2,
		SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect:           image.Rect(0, 0, w, h),
	}
	return &g.out, nil
}
