package testpattern

import (
	"context"
	"fmt"
	"net/url"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/internal/cli"
)

// Scheme is the --source spec of the test pattern: "testpattern" or
// "testpattern:?size=1280x720&fps=30".
const Scheme = "testpattern"

// NewDeviceSource is the device.SourceFactory of the test pattern: each Open draws a fresh
// pattern that is also the connection's input sink. size and fps in the spec's query override
// the options.
func NewDeviceSource(spec *url.URL, opts device.Options) (device.Source, error) {
	cfg := Config{Width: opts.Width, Height: opts.Height, FPS: opts.FPS}
	q := spec.Query()
	if s := q.Get("size"); s != "" {
		w, h, err := cli.Size(s)
		if err != nil {
			return nil, err
		}
		cfg.Width, cfg.Height = w, h
	}
	if s := q.Get("fps"); s != "" {
		if _, err := fmt.Sscanf(s, "%d", &cfg.FPS); err != nil {
			return nil, fmt.Errorf("fps=%q is not a number", s)
		}
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return patternSource{cfg: cfg}, nil
}

type patternSource struct{ cfg Config }

func (p patternSource) Open(context.Context) (device.Conn, error) {
	src, err := New(p.cfg)
	if err != nil {
		return device.Conn{}, err
	}
	return device.Conn{Video: src, Input: src}, nil
}

func (p patternSource) String() string {
	return fmt.Sprintf("testpattern (%dx%d at %d fps)", p.cfg.Width, p.cfg.Height, p.cfg.FPS)
}

// DeviceSource returns s as an agent's device source, already open, that is also its own
// input sink: for tests and tools that keep a hand on the pattern (to read what it received).
func (s *Source) DeviceSource() device.Source {
	return device.Static(Scheme, device.Conn{Video: s, Input: s})
}
