package v4l2

import "image"

// JPEGDecoder turns one JPEG (a frame of an MJPEG capture) into a 4:2:0 picture owned by the
// decoder, valid until its next Decode. device/mjpeg's decoders satisfy it: libjpeg-turbo
// with cgo, the standard library's image/jpeg without (mjpeg.NewDecoder picks).
type JPEGDecoder interface {
	Decode(jpeg []byte) (*image.YCbCr, error)
	Close()
}
