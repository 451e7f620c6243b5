// Package encoders builds the agent's video encoder from a media.EncoderConfig: libx264 for
// H.264, libvpx for VP8, behind the controls every encoder gets the same way — forced
// keyframes throttled (first at once, then at most one per KeyframeMinInterval), optional
// periodic keyframes, and bitrates clamped to [MinBitrate, MaxBitrate].
package encoders

import (
	"fmt"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/vpx"
	"github.com/kvmrelay/kvmrelay/media/x264"
)

// New returns an encoder for cfg.Codec. It returns an error wrapping
// media.ErrCodecUnavailable when the codec is not compiled in, so the caller can offer the
// other codec.
func New(cfg media.EncoderConfig) (media.Encoder, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Periodic keyframes are the wrapper's job (by time, not frame count): the codecs get
	// KeyframeInterval 0, keyframes only when forced.
	var enc media.Encoder
	switch cfg.Codec {
	case media.CodecH264:
		e, err := x264.New(x264.Config{
			Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Bitrate: cfg.StartBitrate,
			RateBuffer: cfg.RateBuffer, Threads: cfg.Threads,
		})
		if err != nil {
			return nil, fmt.Errorf("encoders: %w", err)
		}
		enc = e
	case media.CodecVP8:
		e, err := vpx.New(vpx.Config{
			Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Bitrate: cfg.StartBitrate,
			RateBuffer: cfg.RateBuffer, Threads: cfg.Threads,
		})
		if err != nil {
			return nil, fmt.Errorf("encoders: %w", err)
		}
		enc = e
	default:
		return nil, fmt.Errorf("encoders: unsupported codec %q", cfg.Codec)
	}
	return Wrap(enc, cfg), nil
}
