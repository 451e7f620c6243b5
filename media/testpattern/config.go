package testpattern

import (
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/media"
)

// Motion selects how much of the picture changes on its own, frame to frame.
type Motion int

// Motion levels.
const (
	// MotionBar moves a bar across a band and updates the frame counter and clock: enough to
	// see the stream is live, cheap to encode. The default.
	MotionBar Motion = iota
	// MotionNone changes only the counter, clock, strip and what input changes: a console
	// waiting at a prompt.
	MotionNone
	// MotionFull scrolls a texture under the whole picture every frame: the worst case for the
	// encoder (video playing on the console).
	MotionFull
)

// Config configures a Source.
type Config struct {
	Width, Height int
	// FPS is the steady frame rate without input; default 30.
	FPS int
	// MaxFPS caps the rate of frames produced at once by input; default 120.
	MaxFPS int
	Motion Motion
	// Clock drives frame timing and capture times; nil is the system clock.
	Clock media.Clock
}

// Defaults.
const (
	DefaultFPS    = 30
	DefaultMaxFPS = 120
)

func (c Config) withDefaults() Config {
	if c.FPS <= 0 {
		c.FPS = DefaultFPS
	}
	if c.MaxFPS <= 0 {
		c.MaxFPS = DefaultMaxFPS
	}
	c.MaxFPS = max(c.MaxFPS, c.FPS)
	if c.Clock == nil {
		c.Clock = media.SystemClock{}
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("testpattern: size %dx%d must be even (4:2:0)", c.Width, c.Height)
	case c.Width > 8192 || c.Height > 8192:
		return fmt.Errorf("testpattern: size %dx%d too large", c.Width, c.Height)
	case c.MaxFPS > 1000:
		return fmt.Errorf("testpattern: max fps %d above 1000", c.MaxFPS)
	case c.Motion < MotionBar || c.Motion > MotionFull:
		return fmt.Errorf("testpattern: unknown motion %d", c.Motion)
	}
	return nil
}

func period(fps int) time.Duration { return time.Second / time.Duration(fps) }
