//go:build !cgo

package vpx

import (
	"fmt"

	"github.com/kvmrelay/kvmrelay/media"
)

// Encoder is unavailable without cgo.
type Encoder struct{ media.Encoder }

// New reports that libvpx is not compiled in.
func New(Config) (*Encoder, error) {
	return nil, fmt.Errorf("vpx: built without cgo: %w", media.ErrCodecUnavailable)
}
