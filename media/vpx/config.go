package vpx

import (
	"fmt"
	"runtime"
	"time"
)

// Config configures an Encoder.
type Config struct {
	Width, Height int
	// FPS is the nominal frame rate: the duration of a frame, and the keyframe size cap.
	FPS int
	// Bitrate is the initial target in bits per second.
	Bitrate int
	// RateBuffer is the rate-control buffer as a duration at the target bitrate.
	RateBuffer time.Duration
	// Threads is the number of encoder threads; 0 picks min(CPUs, 4).
	Threads int
	// CPUUsed trades quality for speed, 4…16 (realtime); 0 is the default, DefaultCPUUsed.
	CPUUsed int
	// KeyframeInterval is the largest distance between keyframes in frames; 0 is infinite.
	KeyframeInterval int
}

// DefaultCPUUsed keeps a 1080p full-motion frame well under a frame time on two cores.
const DefaultCPUUsed = 10

const (
	defaultRateBuffer = 200 * time.Millisecond
	minKbps           = 10
)

func (c Config) withDefaults() Config {
	if c.Threads <= 0 {
		c.Threads = min(runtime.NumCPU(), 4)
	}
	if c.CPUUsed == 0 {
		c.CPUUsed = DefaultCPUUsed
	}
	if c.RateBuffer <= 0 {
		c.RateBuffer = defaultRateBuffer
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Width <= 0 || c.Height <= 0 || c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("vpx: frame size %dx%d must be positive and even", c.Width, c.Height)
	case c.Width > 16383 || c.Height > 16383:
		return fmt.Errorf("vpx: frame size %dx%d too large for VP8", c.Width, c.Height)
	case c.FPS <= 0:
		return fmt.Errorf("vpx: fps %d must be positive", c.FPS)
	case c.Bitrate < minKbps*1000:
		return fmt.Errorf("vpx: bitrate %d below %d kbps", c.Bitrate, minKbps)
	case c.CPUUsed < 4 || c.CPUUsed > 16:
		return fmt.Errorf("vpx: cpu-used %d out of realtime range 4…16", c.CPUUsed)
	case c.KeyframeInterval < 0:
		return fmt.Errorf("vpx: keyframe interval %d negative", c.KeyframeInterval)
	}
	return nil
}
