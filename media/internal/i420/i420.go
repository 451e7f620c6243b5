// Package i420 checks raw frames before their planes are handed to C encoders, which trust
// strides and sizes blindly.
package i420

import (
	"errors"
	"fmt"
	"image"
)

// Check reports whether img is a 4:2:0 picture of exactly w×h whose buffers hold every row
// its strides promise.
func Check(img *image.YCbCr, w, h int) error {
	if img == nil {
		return errors.New("frame without image")
	}
	if img.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return fmt.Errorf("frame is %v, want 4:2:0", img.SubsampleRatio)
	}
	if img.Rect.Dx() != w || img.Rect.Dy() != h {
		return fmt.Errorf("frame is %dx%d, encoder is %dx%d", img.Rect.Dx(), img.Rect.Dy(), w, h)
	}
	p := img.Rect.Min
	cw, ch := (w+1)/2, (h+1)/2
	yEnd := img.YOffset(p.X, p.Y) + (h-1)*img.YStride + w
	cEnd := img.COffset(p.X, p.Y) + (ch-1)*img.CStride + cw
	if img.YStride < w || img.CStride < cw || yEnd > len(img.Y) || cEnd > len(img.Cb) || cEnd > len(img.Cr) {
		return errors.New("frame buffers are smaller than their strides claim")
	}
	return nil
}

// Planes returns the slices starting at the picture's first pixel, for handing to C.
func Planes(img *image.YCbCr) (y, cb, cr []byte) {
	p := img.Rect.Min
	return img.Y[img.YOffset(p.X, p.Y):], img.Cb[img.COffset(p.X, p.Y):], img.Cr[img.COffset(p.X, p.Y):]
}
