package passthrough

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/h264"
)

// Queue limits: about a second at 30 fps. A consumer further behind gets fresh pictures from
// the next IDR rather than a second of stale ones.
const (
	DefaultMaxFrames = 32
	DefaultMaxBytes  = 32 << 20
)

// Config configures a Video.
type Config struct {
	Logger *slog.Logger
	// MaxFrames and MaxBytes bound the access units waiting for Next; 0 means the defaults.
	MaxFrames, MaxBytes int
	// RequestKeyframe asks the source for an IDR; nil when its protocol cannot. It must not
	// block.
	RequestKeyframe func()
	// KeyframeMinInterval throttles RequestKeyframe; 0 is media.DefaultKeyframeMinInterval.
	KeyframeMinInterval time.Duration
	// Size is the picture size known on connecting (an SDP's SPS), 0 when unknown.
	SPS *h264.SPS
}

// Video is one connection's H.264 access units. It implements media.EncodedSource,
// device.Watched and device.Sized, and ProfileLevelID.
type Video struct {
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc
	ended  chan struct{} // closed when the reader returned
	done   chan struct{} // closed when the connection failed or was closed
	wake   chan struct{} // cap 1: something for Next

	mu        sync.Mutex
	queue     []media.Frame
	bytes     int
	skipping  bool // dropped for a slow consumer: waiting for an IDR
	dropped   int  // in the current drop
	err       error
	closed    bool
	sps       h264.SPS
	hasSPS    bool
	lastKey   time.Time // last keyframe request passed to the source
	wantedKey time.Time // a keyframe was requested at; zero when none pending
}

// Start runs read in a goroutine it owns and returns the Video read pushes into. read returns
// when its connection fails (the error Next then reports) or when ctx ends (on Close).
func Start(cfg Config, read func(ctx context.Context, v *Video) error) *Video {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxFrames <= 0 {
		cfg.MaxFrames = DefaultMaxFrames
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.KeyframeMinInterval <= 0 {
		cfg.KeyframeMinInterval = media.DefaultKeyframeMinInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	v := &Video{
		cfg: cfg, log: cfg.Logger, cancel: cancel,
		ended: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1),
	}
	if cfg.SPS != nil {
		v.sps, v.hasSPS = *cfg.SPS, true
	}
	go func() {
		defer close(v.ended)
		err := read(ctx, v)
		if ctx.Err() != nil || err == nil {
			err = media.ErrClosed
		}
		v.fail(err)
	}()
	return v
}

// Push queues one access unit that completed at t. Called by the reader only.
func (v *Video) Push(u h264.Unit, t time.Time) {
	f := media.Frame{
		Encoded:     &media.EncodedFrame{Codec: media.CodecH264, Data: u.Data, Keyframe: u.Keyframe, CaptureTime: t},
		CaptureTime: t,
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return
	}
	if u.Keyframe && !v.wantedKey.IsZero() {
		v.log.Debug("keyframe after request", "wait", t.Sub(v.wantedKey).Round(time.Millisecond))
		v.wantedKey = time.Time{}
	}
	if v.skipping {
		if !u.Keyframe {
			v.dropped++
			return
		}
		v.log.Warn("video consumer caught up; resuming at an IDR", "dropped", v.dropped)
		v.skipping, v.dropped = false, 0
	}
	if len(v.queue) >= v.cfg.MaxFrames || v.bytes+len(u.Data) > v.cfg.MaxBytes {
		v.overflowLocked(u.Keyframe)
	}
	if !v.skipping {
		v.queue = append(v.queue, f)
		v.bytes += len(u.Data)
	} else {
		v.dropped++
	}
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// overflowLocked makes room: the queue keeps only what follows its newest IDR (the incoming
// unit itself when it is one); without an IDR everything goes and Push skips to the next.
func (v *Video) overflowLocked(incomingKey bool) {
	keep := -1
	if !incomingKey {
		for i := len(v.queue) - 1; i > 0; i-- { // 0: keeping all would not make room
			if v.queue[i].Encoded.Keyframe {
				keep = i
				break
			}
		}
	}
	n := len(v.queue)
	if keep > 0 {
		n = keep
	}
	clear(v.queue[:n])
	v.queue = append(v.queue[:0], v.queue[n:]...)
	v.bytes = 0
	for _, f := range v.queue {
		v.bytes += len(f.Encoded.Data)
	}
	if keep < 0 && !incomingKey {
		v.skipping, v.dropped = true, n
		v.log.Warn("video consumer too slow; dropping access units up to the next IDR (the picture freezes until then)",
			"queued", n, "max_frames", v.cfg.MaxFrames)
		return
	}
	v.log.Warn("video consumer too slow; dropped access units before an IDR", "dropped", n)
}

// SetSPS records the stream's SPS (on connecting or when it changes).
func (v *Video) SetSPS(sps h264.SPS) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sps, v.hasSPS = sps, true
}

func (v *Video) fail(err error) {
	v.mu.Lock()
	if v.err == nil {
		v.err = err
		close(v.done)
	}
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// Next returns the next access unit, or the error that ended the connection once the queue
// is empty.
func (v *Video) Next(ctx context.Context) (media.Frame, error) {
	for {
		v.mu.Lock()
		if v.closed {
			v.mu.Unlock()
			return media.Frame{}, media.ErrClosed
		}
		if len(v.queue) > 0 {
			f := v.queue[0]
			v.queue[0] = media.Frame{}
			v.queue = v.queue[1:]
			v.bytes -= len(f.Encoded.Data)
			v.mu.Unlock()
			return f, nil
		}
		err := v.err
		v.mu.Unlock()
		if err != nil {
			return media.Frame{}, err
		}
		select {
		case <-ctx.Done():
			return media.Frame{}, ctx.Err()
		case <-v.wake:
		}
	}
}

// Close ends the connection and waits for its reader.
func (v *Video) Close() error {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.cancel()
	<-v.ended
	return nil
}

// Done is closed when the connection ended (device.Watched).
func (v *Video) Done() <-chan struct{} { return v.done }

// Err says why the stream ended (device.Failed); nil while it runs.
func (v *Video) Err() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}

// Codec is H.264.
func (v *Video) Codec() media.Codec { return media.CodecH264 }

// RequestKeyframe asks the source for an IDR when its protocol can, at most every
// KeyframeMinInterval (the first request always goes through). Frames keep flowing in order;
// the IDR comes when the source sends it (see the package doc).
func (v *Video) RequestKeyframe() {
	now := time.Now()
	v.mu.Lock()
	if v.wantedKey.IsZero() {
		v.wantedKey = now
	}
	ask := v.cfg.RequestKeyframe != nil && v.err == nil && !v.closed &&
		(v.lastKey.IsZero() || now.Sub(v.lastKey) >= v.cfg.KeyframeMinInterval)
	if ask {
		v.lastKey = now
	}
	v.mu.Unlock()
	if ask {
		v.cfg.RequestKeyframe()
	}
}

// ProfileLevelID is the SDP profile-level-id of the stream's SPS ("42c01f"); ok is false
// until an SPS was seen (in the SDP or the stream).
func (v *Video) ProfileLevelID() (id string, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.hasSPS {
		return "", false
	}
	return v.sps.ProfileLevelID(), true
}

// Size is the SPS's picture size, 0×0 until one was seen (device.Sized).
func (v *Video) Size() (width, height int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.sps.Width, v.sps.Height
}

// ErrNoKeyframe is the error of a stream that sent no usable IDR in time.
var ErrNoKeyframe = errors.New("passthrough: the stream sent no IDR (keyframe)")

// DefaultFirstIDRTimeout is how long a connection may go without a usable IDR before it counts
// as failed: longer than any sane GOP.
const DefaultFirstIDRTimeout = 20 * time.Second

// Forwarder is the part of a reader common to every protocol: access units through a Gate into
// a Video. Not safe for concurrent use.
type Forwarder struct {
	Video *Video
	Gate  h264.Gate
	// FirstIDRTimeout bounds the wait for the first usable IDR; 0 is DefaultFirstIDRTimeout.
	FirstIDRTimeout time.Duration
	start           time.Time
	passed          bool
}

// Forward passes one access unit that completed at t. The error ends the connection: B-frames,
// a parameter set that does not parse, or no IDR in time.
func (f *Forwarder) Forward(nals [][]byte, t time.Time) error {
	if f.start.IsZero() {
		f.start = t
	}
	u, ok, err := f.Gate.Pass(nals)
	if err != nil {
		return fmt.Errorf("passthrough: %w", err)
	}
	if u.NewSPS {
		if sps, ok := f.Gate.SPS(); ok {
			f.Video.SetSPS(sps)
			f.Video.log.Info("h264 stream", "profile_level_id", sps.ProfileLevelID(), "size", fmt.Sprintf("%dx%d", sps.Width, sps.Height))
		}
	}
	if !ok {
		limit := f.FirstIDRTimeout
		if limit <= 0 {
			limit = DefaultFirstIDRTimeout
		}
		if !f.passed && t.Sub(f.start) > limit {
			return fmt.Errorf("%w with its SPS and PPS within %v (%d access units): set the encoder's keyframe interval (GOP) to 1–2 s; intra-refresh streams cannot start a browser's decoder",
				ErrNoKeyframe, limit, f.Gate.Held)
		}
		return nil
	}
	f.passed = true
	f.Video.Push(u, t)
	return nil
}

// Lost tells the gate units were lost: it waits for the next IDR.
func (f *Forwarder) Lost() { f.Gate.Lost() }

// Logger is the connection's logger.
func (v *Video) Logger() *slog.Logger { return v.log }
