package x264

import "time"

// rateScaler corrects x264's per-frame bit budget for a frame rate that differs from the
// configured one. x264 (zero latency, no VFR input) gives each frame bitrate/FPS bits and
// fills its VBV at the same per-frame rate; a damage-driven source producing 120 frames a
// second while the mouse moves would then send four times the target. Handing x264
// target × (measured interval × FPS) keeps the real bitrate on target. The measurement is an
// exponential moving average, and the applied factor only moves when the estimate leaves a
// ±10% band, so x264 is not reconfigured on every frame.
type rateScaler struct {
	fps      float64
	interval float64 // seconds, moving average
	last     time.Time
	factor   float64
}

const (
	rateAlpha      = 1.0 / 8
	rateHysteresis = 0.1
	minFactor      = 1.0 / 8
	maxFactor      = 4
	minInterval    = time.Second / 240
	maxInterval    = time.Second
)

func newRateScaler(fps int) rateScaler {
	return rateScaler{fps: float64(fps), interval: 1 / float64(fps), factor: 1}
}

// observe records a frame captured at t and returns the factor to apply to the target
// bitrate.
func (r *rateScaler) observe(t time.Time) float64 {
	if !r.last.IsZero() && !t.IsZero() {
		d := min(max(t.Sub(r.last), minInterval), maxInterval)
		r.interval += rateAlpha * (d.Seconds() - r.interval)
	}
	if !t.IsZero() {
		r.last = t
	}
	want := min(max(r.interval*r.fps, minFactor), maxFactor)
	if want > r.factor*(1+rateHysteresis) || want < r.factor*(1-rateHysteresis) {
		r.factor = want
	}
	return r.factor
}
