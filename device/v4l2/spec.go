package v4l2

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/mjpeg"
	"github.com/kvmrelay/kvmrelay/internal/cli"
	"github.com/kvmrelay/kvmrelay/media"
)

// Scheme is the --source scheme: "v4l2:///dev/video0?size=1920x1080&fps=30&format=mjpeg".
const Scheme = "v4l2"

// Format names a pixel format a spec may ask for.
type Format string

// Formats a spec may name.
const (
	FormatAuto  Format = ""
	FormatMJPEG Format = "mjpeg"
	FormatYUYV  Format = "yuyv"
	FormatUYVY  Format = "uyvy"
	FormatNV12  Format = "nv12"
	FormatI420  Format = "i420"
	FormatH264  Format = "h264"
)

var formatNames = []Format{FormatMJPEG, FormatYUYV, FormatUYVY, FormatNV12, FormatI420, FormatH264}

// Defaults.
const (
	DefaultPath = "/dev/video0"
	// DefaultNoSignalTimeout is how long a capture may deliver nothing before the source
	// reports that its input has no signal: a USB dongle whose HDMI cable is out sends no
	// frames at all, and a machine rebooting goes dark for a few seconds.
	DefaultNoSignalTimeout = 5 * time.Second
	DefaultBuffers         = 4
	// DefaultMaxWidth and DefaultMaxHeight bound the picked size when neither the spec nor
	// the options give one.
	DefaultMaxWidth, DefaultMaxHeight = 1920, 1080
)

// Config configures a capture. Zero fields take defaults.
type Config struct {
	// Path is the device node: /dev/video0, or better a stable /dev/v4l/by-id/… link.
	Path string
	// Width and Height, when set, ask for exactly that size. Otherwise the largest the
	// device offers within MaxWidth×MaxHeight is picked.
	Width, Height       int
	MaxWidth, MaxHeight int
	// FPS is the frame rate asked for (default 30): the highest the device offers up to it.
	FPS    int
	Format Format
	// NoSignalTimeout: see DefaultNoSignalTimeout.
	NoSignalTimeout time.Duration
	// Buffers is the number of driver buffers mapped (default 4).
	Buffers int
	// NewJPEGDecoder makes the MJPEG decoder of a connection; nil is device/mjpeg's fastest.
	NewJPEGDecoder func() JPEGDecoder
	Clock          media.Clock
	Logger         *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.MaxWidth <= 0 || c.MaxHeight <= 0 {
		c.MaxWidth, c.MaxHeight = DefaultMaxWidth, DefaultMaxHeight
	}
	if c.FPS <= 0 {
		c.FPS = media.DefaultFPS
	}
	if c.NoSignalTimeout <= 0 {
		c.NoSignalTimeout = DefaultNoSignalTimeout
	}
	if c.Buffers <= 0 {
		c.Buffers = DefaultBuffers
	}
	if c.NewJPEGDecoder == nil {
		c.NewJPEGDecoder = func() JPEGDecoder { return mjpeg.NewDecoder() }
	}
	if c.Clock == nil {
		c.Clock = media.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ParseSpec reads a v4l2 spec into a Config: v4l2:///dev/video0 (three slashes: the path is
// absolute, there is no host), or plain "v4l2" for /dev/video0. The options' size is an upper
// bound for the picked size and their fps the rate asked for; the spec's query overrides both.
func ParseSpec(spec *url.URL, opts device.Options) (Config, error) {
	cfg := Config{
		Path: spec.Path, FPS: opts.FPS, MaxWidth: opts.Width, MaxHeight: opts.Height,
		Logger: opts.Logger,
	}
	if spec.Opaque != "" {
		cfg.Path = spec.Opaque
	}
	if spec.Host != "" || spec.User != nil {
		return Config{}, fmt.Errorf("v4l2: %q names a host; write the device path after three slashes: v4l2:///dev/video0", spec.Redacted())
	}
	if cfg.Path != "" && !path.IsAbs(cfg.Path) {
		return Config{}, fmt.Errorf("v4l2: device path %q must be absolute, like v4l2:///dev/video0", cfg.Path)
	}
	q := spec.Query()
	for k := range q {
		if !slices.Contains([]string{"size", "fps", "format"}, k) {
			return Config{}, fmt.Errorf("v4l2: unknown parameter %q; known: size=WIDTHxHEIGHT, fps=N, format=%s", k, formatList())
		}
	}
	if s := q.Get("size"); s != "" {
		w, h, err := cli.Size(s)
		if err != nil {
			return Config{}, fmt.Errorf("v4l2: %w", err)
		}
		cfg.Width, cfg.Height = w, h
		cfg.MaxWidth, cfg.MaxHeight = w, h
	}
	if s := q.Get("fps"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 240 {
			return Config{}, fmt.Errorf("v4l2: fps=%q: want a whole number from 1 to 240", s)
		}
		cfg.FPS = n
	}
	if s := q.Get("format"); s != "" {
		f := Format(strings.ToLower(s))
		if f == "yu12" {
			f = FormatI420
		}
		if !slices.Contains(formatNames, f) {
			return Config{}, fmt.Errorf("v4l2: format=%q: want one of %s", s, formatList())
		}
		cfg.Format = f
	}
	return cfg, nil
}

func formatList() string {
	names := make([]string, len(formatNames))
	for i, f := range formatNames {
		names[i] = string(f)
	}
	return strings.Join(names, "|")
}

// String names the capture for people: "v4l2:///dev/video0".
func (c Config) String() string {
	s := "v4l2://" + c.Path
	var q []string
	if c.Width > 0 {
		q = append(q, fmt.Sprintf("size=%dx%d", c.Width, c.Height))
	}
	if c.Format != FormatAuto {
		q = append(q, "format="+string(c.Format))
	}
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

// ErrNeedsLinux is returned by the factory on systems without V4L2.
var ErrNeedsLinux = errors.New("V4L2 capture needs Linux")
