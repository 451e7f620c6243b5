package sfu

import "time"

// CongestionConfig decides when a viewer goes keyframes-only and when it returns. Zero fields
// take the defaults below.
type CongestionConfig struct {
	// DownRatio: below DownRatio × the upstream bitrate for DownHold, the viewer goes
	// keyframes-only. GCC answers a burst (a keyframe) by setting its estimate to 0.85 × what
	// got through, so the ratio sits below that and the hold outlasts one burst.
	DownRatio float64
	DownHold  time.Duration
	// UpRatio: at or above UpRatio × the upstream bitrate for UpHold, and after at least the
	// current minimum stay, the viewer returns to the full stream at the next keyframe.
	UpRatio float64
	UpHold  time.Duration
	// MinStay is the first minimum time in keyframes-only mode. A return that fails (the viewer
	// goes keyframes-only again within FailWindow) doubles it, up to MaxStay: GCC's estimate
	// climbs while little is sent, so each return is a probe and must get rarer when it fails.
	MinStay, MaxStay, FailWindow time.Duration
	// KeyframeInterval is how often a keyframes-only viewer asks for a keyframe.
	KeyframeInterval time.Duration
}

// Congestion defaults.
const (
	DefaultDownRatio             = 0.7
	DefaultDownHold              = time.Second
	DefaultUpRatio               = 1.2
	DefaultUpHold                = 2 * time.Second
	DefaultMinStay               = 4 * time.Second
	DefaultMaxStay               = 64 * time.Second
	DefaultFailWindow            = 10 * time.Second
	DefaultKeyframesOnlyInterval = 3 * time.Second
)

func (c CongestionConfig) withDefaults() CongestionConfig {
	if c.DownRatio <= 0 {
		c.DownRatio = DefaultDownRatio
	}
	if c.DownHold <= 0 {
		c.DownHold = DefaultDownHold
	}
	if c.UpRatio <= 0 {
		c.UpRatio = DefaultUpRatio
	}
	if c.UpHold <= 0 {
		c.UpHold = DefaultUpHold
	}
	if c.MinStay <= 0 {
		c.MinStay = DefaultMinStay
	}
	if c.MaxStay <= 0 {
		c.MaxStay = DefaultMaxStay
	}
	c.MaxStay = max(c.MaxStay, c.MinStay)
	if c.FailWindow <= 0 {
		c.FailWindow = DefaultFailWindow
	}
	if c.KeyframeInterval <= 0 {
		c.KeyframeInterval = DefaultKeyframesOnlyInterval
	}
	return c
}

// congestion is one viewer's full / keyframes-only state. Not safe for concurrent use.
type congestion struct {
	cfg CongestionConfig

	keyframesOnly bool
	wantFull      bool      // recovered: switch to the full stream at the next keyframe
	below, above  time.Time // since when the estimate has been under / over the threshold
	enteredAt     time.Time // when keyframes-only began
	leftAt        time.Time // when the last return to the full stream happened
	stay          time.Duration
	entered       int
	total         time.Duration // keyframes-only time before enteredAt
}

func newCongestion(cfg CongestionConfig) *congestion {
	cfg = cfg.withDefaults()
	return &congestion{cfg: cfg, stay: cfg.MinStay}
}

// update takes the viewer's estimate and the upstream bitrate at a frame start; askKeyframe
// reports the viewer just recovered and should ask for the keyframe it returns at. Unknown
// rates (0) decide nothing.
func (c *congestion) update(now time.Time, estimate, upstream int) (askKeyframe bool) {
	if estimate <= 0 || upstream <= 0 {
		return false
	}
	if !c.keyframesOnly {
		if float64(estimate) >= c.cfg.DownRatio*float64(upstream) {
			c.below = time.Time{}
			return false
		}
		if c.below.IsZero() {
			c.below = now
		}
		if now.Sub(c.below) >= c.cfg.DownHold {
			c.enter(now)
		}
		return false
	}
	if float64(estimate) < c.cfg.UpRatio*float64(upstream) {
		c.above, c.wantFull = time.Time{}, false
		return false
	}
	if c.above.IsZero() {
		c.above = now
	}
	if !c.wantFull && now.Sub(c.above) >= c.cfg.UpHold && now.Sub(c.enteredAt) >= c.stay {
		c.wantFull = true
		return true
	}
	return false
}

func (c *congestion) enter(now time.Time) {
	if !c.leftAt.IsZero() && now.Sub(c.leftAt) < c.cfg.FailWindow {
		c.stay = min(2*c.stay, c.cfg.MaxStay)
	} else {
		c.stay = c.cfg.MinStay
	}
	c.keyframesOnly, c.wantFull = true, false
	c.enteredAt, c.below, c.above = now, time.Time{}, time.Time{}
	c.entered++
}

// keyframe reports a keyframe starts for this viewer: a recovered viewer returns to the full
// stream with it.
func (c *congestion) keyframe(now time.Time) {
	if !c.keyframesOnly || !c.wantFull {
		return
	}
	c.total += now.Sub(c.enteredAt)
	c.keyframesOnly, c.wantFull = false, false
	c.leftAt, c.below, c.above = now, time.Time{}, time.Time{}
}

// keyframesOnlyTime is the time spent keyframes-only so far.
func (c *congestion) keyframesOnlyTime(now time.Time) time.Duration {
	if c.keyframesOnly {
		return c.total + now.Sub(c.enteredAt)
	}
	return c.total
}
