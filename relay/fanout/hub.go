package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kvmrelay/kvmrelay/sfu"
	"github.com/kvmrelay/kvmrelay/signaling"
)

// Uplinks starts uplink sessions with agents (*signaling.Server).
type Uplinks interface {
	StartUplink(ctx context.Context, t signaling.UplinkTarget) (*signaling.Uplink, error)
}

// Config configures a Hub.
type Config struct {
	Uplinks Uplinks
	// Links share streams with the other relay nodes (lease.go); nil: this node receives
	// every stream it relays from the agent itself.
	Links Links
	// LeaseTTL is the lifetime of this node's lease on a stream it holds, renewed every third
	// of it: a node that dies leaves its machines to another node within it. Default 6 s.
	LeaseTTL time.Duration
	// API configures the relay's upstream connections (network, candidate addresses).
	API sfu.APIConfig
	// ICEServers are the relay's own for an uplink session (its embedded TURN's credentials
	// for user); nil: host candidates only.
	ICEServers func(user string) []webrtc.ICEServer
	// Codecs the relay forwards, preferred first; default H.264 then VP8.
	Codecs []string
	// Linger keeps an uplink nobody holds; default 10 s.
	Linger time.Duration
	// RetryMin and RetryMax bound the wait before an uplink is started again; defaults 500 ms
	// and 10 s.
	RetryMin, RetryMax time.Duration
	// Forwarder tunes each stream's forwarder (keyframe throttling, congestion); its Codec,
	// HeaderExtensions and OnKeyframeRequest are the hub's.
	Forwarder sfu.Config
	Logger    *slog.Logger
	Metrics   *Metrics
}

// Hub holds the streams of the machines this node relays.
type Hub struct {
	cfg Config
	api *webrtc.API

	mu      sync.Mutex
	streams map[Machine]*held
	closed  bool
	// wg runs every stream's uplink loop and lingering stop.
	wg sync.WaitGroup
}

// Machine names a machine whose video the relay receives.
type Machine struct {
	// Device is the machine's device; Agent the gateway's device serving it (empty: its own
	// agent) and Target its address on the gateway.
	Device, Agent, Target string
}

// ErrClosed is returned by Acquire after Close.
var ErrClosed = errors.New("fanout: hub closed")

// New makes a Hub.
func New(cfg Config) (*Hub, error) {
	if cfg.Uplinks == nil {
		return nil, errors.New("fanout: a hub needs a way to start uplinks")
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 10 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 6 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 500 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 10 * time.Second
	}
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []string{webrtc.MimeTypeH264, webrtc.MimeTypeVP8}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	api, err := sfu.NewUpstreamAPI(cfg.API)
	if err != nil {
		return nil, fmt.Errorf("fanout: upstream api: %w", err)
	}
	return &Hub{cfg: cfg, api: api, streams: make(map[Machine]*held)}, nil
}

// held is one machine's stream and who holds it.
type held struct {
	machine Machine
	refs    int // guarded by Hub.mu
	linger  *time.Timer
	cancel  context.CancelFunc
	done    chan struct{} // closed when the uplink loop returned

	// ready is closed once the first track made fwd.
	ready chan struct{}
	fwd   *sfu.Forwarder
	up    *upstream
}

// Acquire returns the forwarder of m's stream, starting the machine's uplink if this node does
// not receive it yet, and waits (within ctx) for the first track. release gives it back; the
// uplink stops a linger after the last release.
func (h *Hub) Acquire(ctx context.Context, m Machine) (*sfu.Forwarder, func(), error) {
	if m.Agent == m.Device {
		m.Agent = ""
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, nil, ErrClosed
	}
	s := h.streams[m]
	if s == nil {
		s = h.startLocked(m)
	}
	s.refs++
	if s.linger != nil {
		s.linger.Stop()
		s.linger = nil
	}
	h.mu.Unlock()
	h.cfg.Metrics.Holders.Inc()
	var once sync.Once
	release := func() { once.Do(func() { h.release(s) }) }
	select {
	case <-s.ready:
		return s.fwd, release, nil
	case <-ctx.Done():
		release()
		return nil, nil, fmt.Errorf("fanout: no video from %s yet: %w", m.Device, ctx.Err())
	}
}

// AcquireAsHolder is Acquire for a node link: it holds m's stream only while this node holds
// (or can claim) the machine's lease, and fails rather than get the stream from yet another
// node, so two nodes never each wait for the other's stream.
func (h *Hub) AcquireAsHolder(ctx context.Context, m Machine) (*sfu.Forwarder, func(), error) {
	if m.Agent == m.Device {
		m.Agent = ""
	}
	holder, err := h.claim(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	if holder != "" {
		return nil, nil, fmt.Errorf("%w (%s holds it)", errNotHolder, holder)
	}
	return h.Acquire(ctx, m)
}

// startLocked starts m's uplink loop.
func (h *Hub) startLocked(m Machine) *held {
	ctx, cancel := context.WithCancel(context.Background())
	s := &held{machine: m, cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	s.up = &upstream{hub: h, held: s, log: h.cfg.Logger.With("device", m.Device, "target", m.Target)}
	h.streams[m] = s
	h.wg.Go(func() {
		defer close(s.done)
		s.up.run(ctx)
	})
	return s
}

// release drops one hold; the last starts the linger.
func (h *Hub) release(s *held) {
	h.cfg.Metrics.Holders.Dec()
	h.mu.Lock()
	defer h.mu.Unlock()
	s.refs--
	if s.refs > 0 || h.closed {
		return
	}
	s.linger = time.AfterFunc(h.cfg.Linger, func() { h.expire(s) })
}

// expire stops a stream nobody took back during its linger.
func (h *Hub) expire(s *held) {
	h.mu.Lock()
	if s.refs > 0 || h.streams[s.machine] != s {
		h.mu.Unlock()
		return
	}
	delete(h.streams, s.machine)
	s.linger = nil
	h.mu.Unlock()
	h.stop(s)
}

// stop ends a stream's uplink and closes its forwarder.
func (h *Hub) stop(s *held) {
	s.cancel()
	<-s.done
	if s.fwd != nil {
		s.fwd.Close()
	}
	s.up.log.Info("relayed stream stopped")
}

// Close stops every stream; held forwarders are closed under their holders.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	streams := make([]*held, 0, len(h.streams))
	for m, s := range h.streams {
		if s.linger != nil {
			s.linger.Stop()
		}
		streams = append(streams, s)
		delete(h.streams, m)
	}
	h.mu.Unlock()
	for _, s := range streams {
		h.stop(s)
	}
	h.wg.Wait()
}
