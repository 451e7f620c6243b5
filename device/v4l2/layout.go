package v4l2

import (
	"fmt"
	"image"
)

// maxSide bounds a picture's width and height from any driver.
const maxSide = 8192

// layout is a format as the driver set it: what a buffer's bytes mean.
type layout struct {
	fcc    fourcc
	w, h   int
	planes int    // memory planes (2 for NV12M on the multi-planar API)
	stride [3]int // bytes per line of each memory plane
}

// minStride is the fewest bytes a line of the first plane takes.
func (l layout) minStride() int {
	switch formatOf(l.fcc) {
	case FormatYUYV, FormatUYVY:
		return 4 * ((l.w + 1) / 2)
	case FormatNV12, FormatI420:
		return l.w
	}
	return 0
}

// check validates the driver's answer to S_FMT, filling in strides it left at 0.
func (l *layout) check() error {
	if l.w <= 0 || l.h <= 0 || l.w > maxSide || l.h > maxSide {
		return fmt.Errorf("v4l2: the device set an implausible %dx%d picture", l.w, l.h)
	}
	f := formatOf(l.fcc)
	switch {
	case f == FormatAuto:
		return fmt.Errorf("v4l2: unsupported pixel format %s", l.fcc)
	case l.planes == 2 && l.fcc != fccNV12M, l.planes > 2, l.planes < 1:
		return fmt.Errorf("v4l2: %s in %d planes is not supported", l.fcc, l.planes)
	case f == FormatMJPEG || f == FormatH264:
		return nil
	}
	for i := range l.planes {
		least := l.minStride()
		if i == 1 { // NV12M's chroma plane
			least = 2 * ((l.w + 1) / 2)
		}
		if l.stride[i] == 0 {
			l.stride[i] = least
		}
		if l.stride[i] < least || l.stride[i] > 4*maxSide {
			return fmt.Errorf("v4l2: the device set %d bytes per line for a %d-pixel-wide %s picture", l.stride[i], l.w, l.fcc)
		}
	}
	return nil
}

// toI420 converts a raw picture in planes (one per memory plane, as mapped) to I420 in dst
// (reused when its size fits) and returns it. Odd sizes lose their last column or row: the
// encoders take even sizes only.
func (l layout) toI420(dst *image.YCbCr, planes [][]byte) (*image.YCbCr, error) {
	if len(planes) < l.planes {
		return nil, errShortFrame
	}
	w, h := l.w, l.h
	if w > 1 {
		w &^= 1
	}
	if h > 1 {
		h &^= 1
	}
	dst = newI420(dst, w, h)
	p0, s0 := planes[0], l.stride[0]
	var err error
	switch formatOf(l.fcc) {
	case FormatYUYV:
		err = yuyvToI420(dst, p0, s0)
	case FormatUYVY:
		err = packed422ToI420(dst, p0, s0, orderUYVY)
	case FormatNV12:
		if l.planes == 2 {
			err = nv12ToI420(dst, p0, s0, planes[1], l.stride[1])
			break
		}
		off := s0 * l.h // chroma follows all lines of luma
		if off > len(p0) {
			return nil, errShortFrame
		}
		err = nv12ToI420(dst, p0[:off], s0, p0[off:], s0)
	case FormatI420:
		cs, ch := s0/2, (l.h+1)/2
		yLen, cLen := s0*l.h, s0/2*ch
		if yLen+2*cLen > len(p0) {
			return nil, errShortFrame
		}
		err = i420Copy(dst, p0[:yLen], s0, p0[yLen:yLen+cLen], p0[yLen+cLen:yLen+2*cLen], cs)
	default:
		return nil, fmt.Errorf("v4l2: %s is not a raw format", l.fcc)
	}
	if err != nil {
		return nil, err
	}
	return dst, nil
}
