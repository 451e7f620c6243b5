package v4l2

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
)

// JPEGDecoder turns one JPEG (a frame of an MJPEG capture) into a 4:2:0 picture owned by the
// decoder, valid until its next Decode. device/mjpeg's decoders (libjpeg-turbo with cgo)
// satisfy it; NewStdJPEGDecoder is the pure-Go fallback.
type JPEGDecoder interface {
	Decode(jpeg []byte) (*image.YCbCr, error)
	Close()
}

// Limits on a JPEG's picture, checked from its header before decoding allocates for it.
const (
	maxJPEGSide   = 8192
	maxJPEGPixels = 4096 * 4096
)

// errUnsupportedJPEG is returned for a JPEG whose layout the fallback cannot turn into 4:2:0.
var errUnsupportedJPEG = errors.New("v4l2: unsupported JPEG")

// NewStdJPEGDecoder returns a JPEGDecoder built on the standard library's image/jpeg: slower
// than libjpeg-turbo, enough for a 1080p capture at modest frame rates.
func NewStdJPEGDecoder() JPEGDecoder { return &stdJPEG{} }

type stdJPEG struct{ out *image.YCbCr }

func (*stdJPEG) Close() {}

func (d *stdJPEG) Decode(data []byte) (*image.YCbCr, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("v4l2: JPEG header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxJPEGSide || cfg.Height > maxJPEGSide || cfg.Width*cfg.Height > maxJPEGPixels {
		return nil, fmt.Errorf("%w: %dx%d picture", errUnsupportedJPEG, cfg.Width, cfg.Height)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("v4l2: JPEG: %w", err)
	}
	return d.toI420(img)
}

// toI420 brings the decoder's output to 4:2:0: capture dongles send 4:2:2 JPEGs, cameras
// 4:2:0; 4:4:4 and grey happen.
func (d *stdJPEG) toI420(img image.Image) (*image.YCbCr, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch src := img.(type) {
	case *image.YCbCr:
		if src.SubsampleRatio == image.YCbCrSubsampleRatio420 {
			return src, nil // freshly allocated by image/jpeg: ours until the next Decode
		}
		d.out = newI420(d.out, w, h)
		copyPlane(d.out.Y, d.out.YStride, src.Y[src.YOffset(b.Min.X, b.Min.Y):], src.YStride, w, h)
		cw := (w + 1) / 2
		switch src.SubsampleRatio {
		case image.YCbCrSubsampleRatio422: // full height, half width: average row pairs
			halveRows(d.out.Cb, d.out.CStride, src.Cb, src.CStride, cw, h)
			halveRows(d.out.Cr, d.out.CStride, src.Cr, src.CStride, cw, h)
		case image.YCbCrSubsampleRatio444:
			halveBoth(d.out.Cb, d.out.CStride, src.Cb, src.CStride, w, h)
			halveBoth(d.out.Cr, d.out.CStride, src.Cr, src.CStride, w, h)
		default:
			return nil, fmt.Errorf("%w: chroma subsampling %v", errUnsupportedJPEG, src.SubsampleRatio)
		}
		return d.out, nil
	case *image.Gray:
		d.out = newI420(d.out, w, h)
		copyPlane(d.out.Y, d.out.YStride, src.Pix, src.Stride, w, h)
		for i := range d.out.Cb {
			d.out.Cb[i], d.out.Cr[i] = 128, 128
		}
		return d.out, nil
	}
	return nil, fmt.Errorf("%w: %T pictures (CMYK?)", errUnsupportedJPEG, img)
}

// halveRows averages each pair of rows of a w-wide plane of h rows (the last alone when h is
// odd) into dst.
func halveRows(dst []byte, dstStride int, src []byte, srcStride, w, h int) {
	for y := 0; y < h; y += 2 {
		a := src[y*srcStride : y*srcStride+w]
		b := a
		if y+1 < h {
			b = src[(y+1)*srcStride : (y+1)*srcStride+w]
		}
		o := dst[(y/2)*dstStride : (y/2)*dstStride+w]
		for x := range o {
			o[x] = uint8((uint(a[x]) + uint(b[x]) + 1) >> 1)
		}
	}
}

// halveBoth averages each 2×2 block of a w×h plane into dst.
func halveBoth(dst []byte, dstStride int, src []byte, srcStride, w, h int) {
	cw := (w + 1) / 2
	for y := 0; y < h; y += 2 {
		a := src[y*srcStride : y*srcStride+w]
		b := a
		if y+1 < h {
			b = src[(y+1)*srcStride : (y+1)*srcStride+w]
		}
		o := dst[(y/2)*dstStride : (y/2)*dstStride+cw]
		for x := range o {
			x1 := min(2*x+1, w-1)
			o[x] = uint8((uint(a[2*x]) + uint(a[x1]) + uint(b[2*x]) + uint(b[x1]) + 2) >> 2)
		}
	}
}
