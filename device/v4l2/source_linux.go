//go:build linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64)

package v4l2

import (
	"context"
	"net/url"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/media"
)

// Source is a V4L2 capture device as a device.Source: each Open opens the node, negotiates
// and streams; the connection's Video is the capture (no input: pair it with --hid).
type Source struct {
	cfg Config
	// open and monoNow are the system's; tests put a fake device and clock here.
	open    func(path string) (vdev, error)
	monoNow func() time.Duration
}

// New returns the Source for cfg; with Format h264 it is a device.Encoded whose frames skip
// the encoder.
func New(cfg Config) device.Source {
	s := &Source{cfg: cfg.withDefaults(), open: openNode, monoNow: monotonicNow}
	if s.cfg.Format == FormatH264 {
		return encodedSource{s}
	}
	return s
}

// NewDeviceSource is the device.SourceFactory of the v4l2 scheme.
func NewDeviceSource(spec *url.URL, opts device.Options) (device.Source, error) {
	cfg, err := ParseSpec(spec, opts)
	if err != nil {
		return nil, err
	}
	return New(cfg), nil
}

// Open opens the device and waits for its first frame.
func (s *Source) Open(ctx context.Context) (device.Conn, error) {
	dev, err := s.open(s.cfg.Path)
	if err != nil {
		return device.Conn{}, err
	}
	c, err := start(ctx, dev, s.cfg, s.monoNow)
	if err != nil {
		return device.Conn{}, err
	}
	var video media.Source = c
	if s.cfg.Format == FormatH264 {
		video = encodedCapture{c}
	}
	return device.Conn{Video: video}, nil
}

// String names the source: "v4l2:///dev/video0".
func (s *Source) String() string { return s.cfg.String() }

type encodedSource struct{ *Source }

// Codec is H.264: the device's frames pass through.
func (encodedSource) Codec() media.Codec { return media.CodecH264 }

func monotonicNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
