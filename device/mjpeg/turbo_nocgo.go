//go:build !cgo || noturbojpeg

package mjpeg

import (
	"errors"
)

// TurboDecoder is unavailable in a build without cgo (or with the noturbojpeg tag).
type TurboDecoder struct{ Decoder }

// NewTurboDecoder reports that libjpeg-turbo is not compiled in; NewDecoder falls back to
// image/jpeg.
func NewTurboDecoder() (*TurboDecoder, error) {
	return nil, errors.New("mjpeg: built without libjpeg-turbo (cgo off or tag noturbojpeg)")
}
