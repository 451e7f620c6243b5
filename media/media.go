// Package media is kvmrelay's video pipeline: raw frames from a Source, through an Encoder that
// can force keyframes and change bitrate at runtime, to encoded frames ready for RTP.
package media

import (
	"context"
	"errors"
	"fmt"
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

// Frame is one picture, raw or already encoded. A raw frame's Image is 4:2:0 (I420) and owned
// by the Source: it is valid until the next call to Next and must not be modified. Frames
// carry their own size (Image.Rect): a source may change it at any frame (a BIOS switching from
// 720×400 text mode to 1024×768), and the pipeline follows.
type Frame struct {
	Image *image.YCbCr
	// Encoded is set instead of Image by an EncodedSource: an access unit ready for RTP.
	Encoded *EncodedFrame
	// CaptureTime is when the source captured (or drew) this picture; it feeds the
	// abs-capture-time RTP header extension and latency measurements.
	CaptureTime time.Time
	// Cut marks a frame that does not continue the previous picture (the first of a new
	// connection, the no-signal card replacing the machine's screen): it is encoded as a
	// keyframe, so the console shows it sharp at once instead of refining it from the old one.
	Cut bool
	// AfterInput is set on the first frame whose picture changed after an input event the
	// source received: it carries that event's sequence number, so a console can time
	// "input → first change" for sources that cannot draw the test pattern's strip.
	AfterInput uint64
}

// Size reports a raw frame's size in pixels (0, 0 for an encoded frame).
func (f Frame) Size() (width, height int) {
	if f.Image == nil {
		return 0, 0
	}
	return f.Image.Rect.Dx(), f.Image.Rect.Dy()
}

// Source produces frames. Damage-driven sources return a new frame as soon as the picture
// changes (and at least at their steady frame rate); others at their frame rate.
type Source interface {
	// Next blocks until the next frame is due and returns it, or returns ctx.Err(),
	// ErrClosed, or the error that ended the source (a dropped connection).
	Next(ctx context.Context) (Frame, error)
	// Close stops the source and releases its resources.
	Close() error
}

// EncodedSource is a Source whose frames are already compressed (H.264 from a camera, an
// RTSP server or a capture device that encodes): they bypass the encoder.
type EncodedSource interface {
	Source
	// Codec is the codec of every frame's Encoded data.
	Codec() Codec
	// RequestKeyframe asks the source for a keyframe where its protocol allows; the frames
	// that follow carry one as soon as the source sends it.
	RequestKeyframe()
}

// Refresher is implemented by sources that produce frames only on change or at a tick: Refresh
// asks for a new frame as soon as possible. A new viewer needs a keyframe now, not at the next
// tick.
type Refresher interface {
	Refresh()
}

// EncodedFrame is one compressed picture: an Annex-B access unit for H.264, a frame for VP8.
type EncodedFrame struct {
	// Codec is set by sources that deliver encoded frames; encoders leave it empty.
	Codec       Codec
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

// ErrCodecUnavailable is returned when an encoder is not compiled into this binary (built
// without cgo, or without the codec library).
var ErrCodecUnavailable = errors.New("media: codec not available in this build")

// EncoderConfig configures an encoder. Bitrates are in bits per second. Zero fields take the
// defaults of WithDefaults.
type EncoderConfig struct {
	Codec         Codec
	Width, Height int
	// FPS is the steady frame rate the source promises; it sizes the per-frame bit budget.
	// Damage-driven sources may run faster for a while: encoders adapt.
	FPS int
	// StartBitrate is the bitrate before the first SetBitrate. It matters: congestion control
	// starts low (GCC at 10 kbps) and ramps up, and the first keyframe is sized by it.
	StartBitrate int
	// MinBitrate and MaxBitrate clamp every SetBitrate.
	MinBitrate, MaxBitrate int
	// RateBuffer is the rate-control buffer (VBV) as a duration at the current bitrate: the
	// longest burst a frame may make the network queue absorb. Smaller is lower latency and
	// blurrier keyframes.
	RateBuffer time.Duration
	// KeyframeMinInterval throttles forced keyframes (PLI/FIR); the first request always goes
	// through at once.
	KeyframeMinInterval time.Duration
	// KeyframeInterval forces a periodic keyframe; 0 means keyframes only on request.
	KeyframeInterval time.Duration
	// Threads is the number of encoder threads; 0 picks from the CPU count.
	Threads int
	// Clock tells time for the keyframe throttle; nil is the system clock.
	Clock Clock
}

// Encoder defaults.
const (
	DefaultFPS                 = 30
	DefaultMinBitrate          = 150_000
	DefaultRateBuffer          = 200 * time.Millisecond
	DefaultKeyframeMinInterval = 500 * time.Millisecond
)

// WithDefaults returns c with every zero field set to its default. Bitrate defaults scale
// with the picture size: about 1.1 Mbps at 720p and 2.5 Mbps at 1080p to start, up to 4× that,
// down to 150 kbps.
func (c EncoderConfig) WithDefaults() EncoderConfig {
	if c.FPS <= 0 {
		c.FPS = DefaultFPS
	}
	if c.StartBitrate <= 0 {
		// 1.2 bits per pixel per second: legible console text soon after the first keyframe;
		// kept inside the caller's clamps.
		c.StartBitrate = max(300_000, c.Width*c.Height*6/5)
		if c.MaxBitrate > 0 {
			c.StartBitrate = min(c.StartBitrate, c.MaxBitrate)
		}
		if c.MinBitrate > 0 {
			c.StartBitrate = max(c.StartBitrate, c.MinBitrate)
		}
	}
	if c.MinBitrate <= 0 {
		c.MinBitrate = min(DefaultMinBitrate, c.StartBitrate)
	}
	if c.MaxBitrate <= 0 {
		c.MaxBitrate = max(c.StartBitrate, 4*c.StartBitrate)
	}
	if c.RateBuffer <= 0 {
		c.RateBuffer = DefaultRateBuffer
	}
	if c.KeyframeMinInterval <= 0 {
		c.KeyframeMinInterval = DefaultKeyframeMinInterval
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	return c
}

// Validate reports whether c (after WithDefaults) describes an encoder kvmrelay can build.
func (c EncoderConfig) Validate() error {
	switch {
	case c.Codec != CodecH264 && c.Codec != CodecVP8:
		return fmt.Errorf("media: unsupported codec %q", c.Codec)
	case c.Width <= 0 || c.Height <= 0 || c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("media: frame size %dx%d must be positive and even (4:2:0)", c.Width, c.Height)
	case c.Width > 8192 || c.Height > 8192:
		return fmt.Errorf("media: frame size %dx%d too large", c.Width, c.Height)
	case c.FPS <= 0 || c.FPS > 240:
		return fmt.Errorf("media: fps %d out of range 1…240", c.FPS)
	case c.MinBitrate <= 0 || c.MinBitrate > c.StartBitrate || c.StartBitrate > c.MaxBitrate:
		return fmt.Errorf("media: bitrates must satisfy 0 < min %d ≤ start %d ≤ max %d",
			c.MinBitrate, c.StartBitrate, c.MaxBitrate)
	case c.Threads < 0:
		return fmt.Errorf("media: threads %d negative", c.Threads)
	}
	return nil
}

// ClampBitrate limits bps to [MinBitrate, MaxBitrate].
func (c EncoderConfig) ClampBitrate(bps int) int {
	return min(max(bps, c.MinBitrate), c.MaxBitrate)
}

// Clock tells time and makes timers. Sources and encoders take one so tests can drive time by
// hand (media/mediatest.Clock) instead of sleeping.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer fires once on C after its duration, unless stopped.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// SystemClock is the real Clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer as a Timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }
