// Package testpattern is a synthetic video source that is also the input sink it displays:
// the agent delivers console input to it and it draws what arrived — the latency strip
// (DESIGN.md), the pointer with its buttons, the last typed characters — plus a frame counter,
// a clock and a moving bar, so a viewer sees both liveness and input-to-display latency.
//
// It is damage-driven: input produces a frame at once (at most MaxFPS a second); without
// input it produces frames at the steady FPS. It draws I420 directly into one buffer and
// repaints only what changed.
package testpattern

import (
	"context"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/media"
)

// Source is a test-pattern media.Source and hid.Sink. Key, Pointer and KeyDownCount may be
// called from any goroutine; Next from one goroutine at a time.
type Source struct {
	cfg               Config
	period, minPeriod time.Duration
	wake              chan struct{} // cap 1: input arrived
	done              chan struct{} // closed by Close
	closeOnce         sync.Once

	mu     sync.Mutex // guards the input side
	in     inputState
	dirty  bool
	closed bool

	nextMu  sync.Mutex // serializes Next; guards the drawing side
	scene   *scene
	last    time.Time // when the last frame was made
	started bool
}

var (
	_ media.Source = (*Source)(nil)
	_ hid.Sink     = (*Source)(nil)
)

// New returns a Source of cfg.Width × cfg.Height (at least 512×240, even).
func New(cfg Config) (*Source, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sc, err := newScene(cfg.Width, cfg.Height, cfg.FPS, cfg.MaxFPS, cfg.Motion)
	if err != nil {
		return nil, err
	}
	return &Source{
		cfg:       cfg,
		period:    period(cfg.FPS),
		minPeriod: period(cfg.MaxFPS),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		scene:     sc,
	}, nil
}

// Size reports the frame size.
func (s *Source) Size() (width, height int) { return s.cfg.Width, s.cfg.Height }

// Next returns the next frame: at once when input arrived since the last frame and
// 1/MaxFPS has passed, otherwise 1/FPS after the last frame. The frame's image is the
// source's buffer, valid until the next call to Next.
func (s *Source) Next(ctx context.Context) (media.Frame, error) {
	s.nextMu.Lock()
	defer s.nextMu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return media.Frame{}, err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return media.Frame{}, media.ErrClosed
		}
		now := s.cfg.Clock.Now()
		due := s.last.Add(s.period)
		if s.dirty {
			due = s.last.Add(s.minPeriod)
		}
		if !s.started || !now.Before(due) {
			in := s.in // strings are immutable: a shallow copy is a snapshot
			s.dirty = false
			s.mu.Unlock()
			img := s.scene.render(&in, now)
			s.last, s.started = now, true
			return media.Frame{Image: img, CaptureTime: now}, nil
		}
		s.mu.Unlock()

		t := s.cfg.Clock.NewTimer(due.Sub(now))
		select {
		case <-ctx.Done():
		case <-s.done:
		case <-s.wake:
		case <-t.C():
		}
		t.Stop()
	}
}

// Close stops the source: Next and input return media.ErrClosed.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
	})
	return nil
}
