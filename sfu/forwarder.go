package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/kvmrelay/kvmrelay/media"
)

// ErrClosed is returned by a Forwarder or Viewer used after Close.
var ErrClosed = errors.New("sfu: closed")

// Config configures a Forwarder. Zero durations take the defaults below.
type Config struct {
	// Codec is the upstream stream's codec (the upstream TrackRemote's Codec()): H.264 or VP8.
	// Viewers send it unchanged, so their connections must negotiate it.
	Codec webrtc.RTPCodecCapability
	// HeaderExtensions are the upstream's negotiated extensions (the upstream RTPReceiver's
	// GetParameters().HeaderExtensions). Those a viewer negotiated too are forwarded under its
	// IDs (playout-delay, abs-capture-time); per-hop ones (transport-cc, abs-send-time, mid,
	// rid) never are.
	HeaderExtensions []webrtc.RTPHeaderExtensionParameter
	// OnKeyframeRequest asks the owner for an upstream keyframe (a PLI on the upstream
	// connection). It is called from the forwarder's own goroutine, at most once per
	// KeyframeInterval, and must not block for long.
	OnKeyframeRequest func()
	// KeyframeInterval throttles upstream keyframe requests.
	KeyframeInterval time.Duration
	// WaitKeyframeRetry is how often a viewer waiting for a keyframe asks again.
	WaitKeyframeRetry time.Duration
	// RateWindow is the window the upstream bitrate is measured over.
	RateWindow time.Duration
	// Congestion tunes when viewers go keyframes-only and come back.
	Congestion CongestionConfig
	// Clock tells time; nil is the system clock.
	Clock media.Clock
	// Logger; nil is slog.Default().
	Logger *slog.Logger
}

// Forwarder defaults.
const (
	DefaultKeyframeInterval  = 500 * time.Millisecond
	DefaultWaitKeyframeRetry = time.Second
	DefaultRateWindow        = 2 * time.Second
)

func (c Config) withDefaults() Config {
	if c.KeyframeInterval <= 0 {
		c.KeyframeInterval = DefaultKeyframeInterval
	}
	if c.WaitKeyframeRetry <= 0 {
		c.WaitKeyframeRetry = DefaultWaitKeyframeRetry
	}
	if c.RateWindow <= 0 {
		c.RateWindow = DefaultRateWindow
	}
	c.Congestion = c.Congestion.withDefaults()
	if c.Clock == nil {
		c.Clock = media.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OnKeyframeRequest == nil {
		c.OnKeyframeRequest = func() {}
	}
	return c
}

// Forwarder fans one upstream video stream out to its viewers. WriteRTP is called by the
// owner's reading loop; AddViewer, Stats and Close from any goroutine.
type Forwarder struct {
	cfg    Config
	detect func([]byte) bool
	keys   *keyframeRequester
	log    *slog.Logger

	mu      sync.Mutex
	closed  bool
	viewers []*Viewer
	seq     seqUnwrapper
	ssrc    uint32
	rate    *rateMeter
	// The upstream frame being received: its timestamp, whether its keyframe was counted, and
	// the upstream bitrate when it started (what viewers compare their estimates with).
	inFrame     bool
	frameTS     uint32
	frameKey    bool
	upstreamBps int
	stats       ForwarderStats
}

// packetInfo is what the forwarder learned about one upstream packet, shared by every
// viewer's decision.
type packetInfo struct {
	ext         uint64 // extended sequence number
	newer       bool   // past every packet before it (else late or a duplicate)
	restart     bool   // first of a new numbering
	frameStart  bool   // first packet of a new frame (newer packets only)
	keyStart    bool   // starts a keyframe (newer packets only)
	padding     bool   // no payload: nothing to forward
	now         time.Time
	upstreamBps int
}

// NewForwarder returns a Forwarder for a stream of cfg.Codec; it runs one goroutine (the
// keyframe requests) until Close.
func NewForwarder(cfg Config) (*Forwarder, error) {
	detect := keyframeDetector(cfg.Codec.MimeType)
	if detect == nil {
		return nil, fmt.Errorf("sfu: codec %q cannot be forwarded (no keyframe detection)", cfg.Codec.MimeType)
	}
	if cfg.Codec.ClockRate == 0 {
		return nil, fmt.Errorf("sfu: codec %q without a clock rate", cfg.Codec.MimeType)
	}
	cfg = cfg.withDefaults()
	f := &Forwarder{
		cfg: cfg, detect: detect, log: cfg.Logger.With("codec", cfg.Codec.MimeType),
		rate: newRateMeter(cfg.RateWindow),
	}
	f.keys = newKeyframeRequester(cfg.Clock, cfg.KeyframeInterval, cfg.OnKeyframeRequest)
	return f, nil
}

// Codec returns the stream's codec.
func (f *Forwarder) Codec() webrtc.RTPCodecCapability { return f.cfg.Codec }

// WriteRTP hands one upstream packet to every viewer. It does not keep p or its buffers after
// it returns. Viewers' write errors are counted in their stats, not returned; the error is
// ErrClosed after Close.
func (f *Forwarder) WriteRTP(p *rtp.Packet) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	now := f.cfg.Clock.Now()
	size := p.Header.MarshalSize() + len(p.Payload)
	f.stats.PacketsReceived++
	f.stats.BytesReceived += uint64(size)
	f.rate.add(now, size)

	if f.stats.PacketsReceived > 1 && p.SSRC != f.ssrc {
		f.log.Info("upstream SSRC changed: viewers wait for a keyframe", "from", f.ssrc, "to", p.SSRC)
		f.seq.reset()
	}
	f.ssrc = p.SSRC
	in := packetInfo{now: now, padding: len(p.Payload) == 0}
	in.ext, in.newer, in.restart = f.seq.unwrap(p.SequenceNumber)
	if in.restart {
		f.inFrame = false
		if f.stats.PacketsReceived > 1 {
			f.stats.Restarts++
		}
	}
	switch {
	case !in.newer:
		f.stats.LatePackets++
	case !in.padding:
		if !f.inFrame || p.Timestamp != f.frameTS {
			in.frameStart = true
			f.inFrame, f.frameTS, f.frameKey = true, p.Timestamp, false
			f.upstreamBps = f.rate.bitsPerSecond(now)
			f.stats.FramesReceived++
		}
		if f.detect(p.Payload) {
			in.keyStart = true
			if !f.frameKey {
				f.frameKey = true
				f.stats.KeyframesReceived++
			}
			f.keys.satisfied()
		}
	}
	in.upstreamBps = f.upstreamBps
	for _, v := range f.viewers {
		v.forward(p, &in)
	}
	return nil
}

// AddViewer returns a new viewer of this stream: add it to the viewer's PeerConnection
// (AddTrack or a transceiver's sender). It gets nothing until it is bound and a keyframe
// starts.
func (f *Forwarder) AddViewer(cfg ViewerConfig) (*Viewer, error) {
	v := newViewer(f, cfg)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	f.viewers = append(f.viewers, v)
	return v, nil
}

// removeViewer stops forwarding to v.
func (f *Forwarder) removeViewer(v *Viewer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.viewers = slices.DeleteFunc(f.viewers, func(x *Viewer) bool { return x == v })
}

// requestKeyframe asks for an upstream keyframe through the throttle.
func (f *Forwarder) requestKeyframe() { f.keys.request() }

// Stats returns the forwarder's counters and the current upstream bitrate.
func (f *Forwarder) Stats() ForwarderStats {
	f.mu.Lock()
	s := f.stats
	s.BitrateBps = f.rate.bitsPerSecond(f.cfg.Clock.Now())
	s.Viewers = len(f.viewers)
	f.mu.Unlock()
	s.KeyframeRequestsAsked, s.KeyframeRequestsSent = f.keys.counts()
	return s
}

// Close detaches every viewer and stops the keyframe requests; WriteRTP and AddViewer fail
// afterwards. Viewers' RTCP readers end with their connections (see Viewer.Close).
func (f *Forwarder) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	viewers := f.viewers
	f.viewers = nil
	f.mu.Unlock()
	for _, v := range viewers {
		v.detach()
	}
	f.keys.close()
}
