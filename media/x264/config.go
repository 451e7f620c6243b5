package x264

import (
	"fmt"
	"runtime"
	"time"
)

// Config configures an Encoder.
type Config struct {
	Width, Height int
	// FPS is the steady frame rate; x264 budgets Bitrate/FPS bits per frame (adjusted by the
	// measured frame rate).
	FPS int
	// Bitrate is the initial target in bits per second.
	Bitrate int
	// RateBuffer is the VBV size as a duration at the target bitrate.
	RateBuffer time.Duration
	// Threads is the number of slice threads; 0 picks min(CPUs, 4).
	Threads int
	// Preset is an x264 preset name; "" is "ultrafast", the only one that keeps up with
	// 1080p on two cores.
	Preset string
	// KeyframeInterval is the largest distance between IDR frames in frames; 0 is infinite
	// (keyframes only when forced).
	KeyframeInterval int
}

const (
	defaultPreset     = "ultrafast"
	defaultRateBuffer = 200 * time.Millisecond
	minKbps           = 10
)

func (c Config) withDefaults() Config {
	if c.Threads <= 0 {
		c.Threads = min(runtime.NumCPU(), 4)
	}
	if c.Preset == "" {
		c.Preset = defaultPreset
	}
	if c.RateBuffer <= 0 {
		c.RateBuffer = defaultRateBuffer
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Width <= 0 || c.Height <= 0 || c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("x264: frame size %dx%d must be positive and even", c.Width, c.Height)
	case c.FPS <= 0:
		return fmt.Errorf("x264: fps %d must be positive", c.FPS)
	case c.Bitrate < minKbps*1000:
		return fmt.Errorf("x264: bitrate %d below %d kbps", c.Bitrate, minKbps)
	case c.KeyframeInterval < 0:
		return fmt.Errorf("x264: keyframe interval %d negative", c.KeyframeInterval)
	}
	return nil
}
