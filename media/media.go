// Package media is kvmrelay's video pipeline: raw frames from a Source, through an Encoder that
// can force keyframes and change bitrate at runtime, to encoded frames ready for RTP.
package media

import (
	"context"
	"errors"
	"image"
	"time"
)

// Codec names a video codec by its WebRTC MIME type.
type Codec string

// Codecs kvmrelay encodes.
const (
	CodecH264 Codec = "video/H264"
	CodecVP8  Codec = "video/VP8"
)

// ErrClosed is returned by a Source or Encoder used after Close.
var ErrClosed = errors.New("media: closed")

// Frame is one raw picture. Image is 4:2:0 (I420) and owned by the Source: it is valid until
// the next call to Next and must not be modified.
type Frame struct {
	Image *image.YCbCr
	// CaptureTime is when the source captured (or drew) this picture; it feeds the
	// abs-capture-time RTP header extension and latency measurements.
	CaptureTime time.Time
}

// Source produces raw frames. Damage-driven sources return a new frame as soon as the picture
// changes (and at least at their steady frame rate); others at their frame rate.
type Source interface {
	// Size reports the frame size in pixels.
	Size() (width, height int)
	// Next blocks until the next frame is due and returns it, or returns ctx.Err() or
	// ErrClosed.
	Next(ctx context.Context) (Frame, error)
	// Close stops the source and releases its resources.
	Close() error
}

// EncodedFrame is one compressed picture: an Annex-B access unit for H.264, a frame for VP8.
type EncodedFrame struct {
	Data        []byte
	Keyframe    bool
	CaptureTime time.Time
}

// Encoder compresses frames. Encode is called from one goroutine; ForceKeyFrame and SetBitrate
// may be called from any goroutine at any time.
type Encoder interface {
	Encode(f Frame) (EncodedFrame, error)
	// ForceKeyFrame makes the next encoded frame a keyframe.
	ForceKeyFrame()
	// SetBitrate changes the target bitrate in bits per second.
	SetBitrate(bps int)
	Close() error
}
