package encoders

import (
	"time"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/keyframe"
)

// Controlled is a media.Encoder with kvmrelay's keyframe throttle and bitrate clamps in front
// of another encoder.
type Controlled struct {
	enc     media.Encoder
	cfg     media.EncoderConfig
	limiter *keyframe.Limiter

	lastKey time.Time // written only by Encode
}

var _ media.Encoder = (*Controlled)(nil)

// Wrap puts the controls in front of enc. cfg supplies the clamps, the intervals and the
// clock (zero fields take their defaults). The caller's StartBitrate must already be set on
// enc.
func Wrap(enc media.Encoder, cfg media.EncoderConfig) *Controlled {
	cfg = cfg.WithDefaults()
	return &Controlled{enc: enc, cfg: cfg, limiter: keyframe.NewLimiter(cfg.KeyframeMinInterval, cfg.Clock)}
}

// ForceKeyFrame asks for a keyframe (on connect, on PLI/FIR). The first request is answered
// with the next frame; later ones at most once per KeyframeMinInterval. Any goroutine.
func (c *Controlled) ForceKeyFrame() { c.limiter.Request() }

// SetBitrate sets the target bitrate, clamped to [MinBitrate, MaxBitrate]. Any goroutine.
func (c *Controlled) SetBitrate(bps int) { c.enc.SetBitrate(c.cfg.ClampBitrate(bps)) }

// Encode encodes one frame, as a keyframe when one is due.
func (c *Controlled) Encode(f media.Frame) (media.EncodedFrame, error) {
	now := c.cfg.Clock.Now()
	periodic := c.cfg.KeyframeInterval > 0 && !c.lastKey.IsZero() && now.Sub(c.lastKey) >= c.cfg.KeyframeInterval
	if c.limiter.Due() || periodic {
		c.enc.ForceKeyFrame()
	}
	out, err := c.enc.Encode(f)
	if err == nil && out.Keyframe {
		c.limiter.Sent()
		c.lastKey = now
	}
	return out, err
}

// Close closes the wrapped encoder.
func (c *Controlled) Close() error { return c.enc.Close() }
