//go:build !cgo

package x264

import (
	"fmt"

	"github.com/kvmrelay/kvmrelay/media"
)

// Encoder is unavailable without cgo.
type Encoder struct{ media.Encoder }

// New reports that libx264 is not compiled in.
func New(Config) (*Encoder, error) {
	return nil, fmt.Errorf("x264: built without cgo: %w", media.ErrCodecUnavailable)
}
