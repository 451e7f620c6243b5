package mjpeg

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
)

// Limits on a frame's picture, checked from its header before a decoder allocates for it.
const (
	maxSide   = 8192
	maxPixels = 4096 * 4096
)

// ErrUnsupported is returned for a JPEG no frame can be made of (progressive, CMYK, too
// large): every frame of a stream is alike, so the stream fails at once.
var ErrUnsupported = errors.New("mjpeg: unsupported JPEG")

// Decoder turns one JPEG into a 4:2:0 frame. The frame is owned by the decoder and valid
// until its next Decode.
type Decoder interface {
	Decode(jpeg []byte) (*image.YCbCr, error)
	// Name is "libjpeg-turbo" or "image/jpeg".
	Name() string
	Close()
}

// NewDecoder returns the fastest decoder this build has: libjpeg-turbo with cgo, the standard
// library's image/jpeg without.
func NewDecoder() Decoder {
	if d, err := NewTurboDecoder(); err == nil {
		return d
	}
	return NewStdDecoder()
}

// checkHeader reads data's frame header and rejects what no decoder should spend memory on.
func checkHeader(data []byte) (jpegInfo, error) {
	info, err := readInfo(data)
	if err != nil {
		return info, err
	}
	switch {
	case info.sof == markerSOF2:
		return info, fmt.Errorf("%w: progressive JPEG; MJPEG streams are baseline (check the streamer's encoder)", ErrUnsupported)
	case info.sof != markerSOF0 && info.sof != markerSOF1:
		return info, fmt.Errorf("%w: JPEG coding %#x (arithmetic or lossless); MJPEG streams are baseline Huffman", ErrUnsupported, info.sof)
	case info.components != 1 && info.components != 3:
		return info, fmt.Errorf("%w: %d color components (CMYK?); want YCbCr or grayscale", ErrUnsupported, info.components)
	case info.width < 2 || info.height < 2:
		return info, fmt.Errorf("%w: %dx%d picture", ErrUnsupported, info.width, info.height)
	case info.width > maxSide || info.height > maxSide || info.width*info.height > maxPixels:
		return info, fmt.Errorf("%w: %dx%d picture is larger than %d pixels", ErrUnsupported, info.width, info.height, maxPixels)
	}
	return info, nil
}

// StdDecoder decodes with the standard library's image/jpeg: pure Go, a new picture allocated
// per frame.
type StdDecoder struct {
	conv toI420
	gray grayI420
}

// NewStdDecoder returns a pure-Go decoder.
func NewStdDecoder() *StdDecoder { return &StdDecoder{} }

// Name implements Decoder.
func (*StdDecoder) Name() string { return "image/jpeg" }

// Close implements Decoder.
func (*StdDecoder) Close() {}

// Decode implements Decoder.
func (d *StdDecoder) Decode(data []byte) (*image.YCbCr, error) {
	if _, err := checkHeader(data); err != nil {
		return nil, err
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("mjpeg: decode: %w", err)
	}
	switch img := img.(type) {
	case *image.YCbCr:
		return d.conv.convert(img)
	case *image.Gray:
		return d.gray.convert(img.Pix, img.Stride, img.Rect.Dx(), img.Rect.Dy())
	default:
		return nil, fmt.Errorf("%w: %T picture (RGB-coded JPEG); want YCbCr", ErrUnsupported, img)
	}
}
