package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/h264"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// machine is one machine the agent serves: its supervised source, the input its consoles
// drive, the one stream that feeds them all, and the source's consent exchange. An agent
// serves its own device's machine, or, as a gateway, one machine per target a console names.
type machine struct {
	// target is the machine's address on a gateway ("" for the agent's own device).
	target string
	source device.Source
	sup    *device.Supervisor
	sink   *lockedSink
	// arb shares the input among the machine's consoles: the controller's alone reaches
	// sink; floor decides who that is.
	arb     *hid.Arbiter
	floor   *floor
	consent *device.Consent
	// codecs are what consoles may receive: the agent's, or an encoded source's own.
	codecs   []media.Codec
	viewOnly bool
	log      *slog.Logger

	// powerBusy is set while a power action runs (one at a time).
	powerBusy atomic.Bool

	mu      sync.Mutex
	stream  *stream
	viewers int
	// releaseSource ends the stream's hold on the supervisor (an on-demand source then
	// disconnects after its linger).
	releaseSource func()
	// lastUsed is when the last viewer left (a gateway forgets machines idle long enough).
	lastUsed time.Time

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// machineConfig is what a machine takes from its agent's Config.
type machineConfig struct {
	target     string
	source     device.Source
	input      hid.Sink // nil: the source's own
	viewOnly   bool
	consent    *device.Consent
	supervisor device.SupervisorConfig
	codecs     []media.Codec
	log        *slog.Logger
	// shared configures the handoff of control among the machine's consoles.
	shared sharedConfig
}

// sharedConfig is what a machine's arbiter and floor take from the agent.
type sharedConfig struct {
	clock          hid.Clock
	send           func(sid string, t wire.Type, data any)
	requestTimeout time.Duration
	burstInterval  time.Duration
	metrics        *Metrics
	// sendKeys delivers captured keys (keys.go); nil: never captured.
	sendKeys func(sid string, k wire.Keys) error
}

func newMachine(cfg machineConfig) (*machine, error) {
	supCfg := cfg.supervisor
	supCfg.Source, supCfg.Logger = cfg.source, cfg.log
	sup := device.NewSupervisor(supCfg)
	var sink hid.Sink
	switch {
	case cfg.viewOnly:
		sink = viewOnly{}
	case cfg.input != nil:
		sink = cfg.input
	default:
		sink = sup.Input()
	}
	codecs := cfg.codecs
	if codec, ok := sup.Codec(); ok {
		// An encoded source decides the codec: consoles must decode what it sends.
		codecs = []media.Codec{codec}
	}
	locked := &lockedSink{sink: sink}
	arb, err := hid.NewArbiter(hid.ArbiterConfig{Sink: locked, Clock: cfg.shared.clock, OnDrop: func(string) {
		if cfg.shared.metrics != nil {
			cfg.shared.metrics.InputDropped.WithLabelValues(dropNotController).Inc()
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("agent: input arbiter of %s: %w", cfg.source, err)
	}
	send := cfg.shared.send
	if send == nil {
		send = func(string, wire.Type, any) {}
	}
	fl := newFloor(floorConfig{arb: arb, clock: cfg.shared.clock, send: send, log: cfg.log,
		requestTimeout: cfg.shared.requestTimeout, burstInterval: cfg.shared.burstInterval,
		sendKeys: cfg.shared.sendKeys, onKeysDropped: func(n int) {
			if cfg.shared.metrics != nil {
				cfg.shared.metrics.KeysDropped.Add(float64(n))
			}
		}})
	return &machine{target: cfg.target, source: cfg.source, sup: sup, sink: locked, arb: arb, floor: fl, consent: cfg.consent,
		codecs: codecs, viewOnly: cfg.viewOnly, log: cfg.log, lastUsed: time.Now()}, nil
}

// run supervises the source and reports its consent exchange until close.
func (m *machine) run(ctx context.Context, report func(ctx context.Context, m *machine)) {
	ctx, m.stop = context.WithCancel(ctx)
	m.wg.Go(func() { m.sup.Run(ctx) })
	if m.consent != nil {
		m.wg.Go(func() { report(ctx, m) })
	}
}

// close stops the source's supervision and the handoff's timers, and releases any input
// still held (its sessions have ended).
func (m *machine) close() {
	m.floor.close()
	if err := m.arb.Close(); err != nil {
		m.log.Warn("release input", "err", err)
	}
	if m.stop != nil {
		m.stop()
	}
	m.wg.Wait()
}

// touch marks the machine in use now: one just handed to a console is not idle.
func (m *machine) touch() {
	m.mu.Lock()
	m.lastUsed = time.Now()
	m.mu.Unlock()
}

// idleSince reports when the machine's last viewer left; ok is false while one watches.
func (m *machine) idleSince() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastUsed, m.viewers == 0
}

// h264ProfileID is the profile-level-id to offer: the agent's encoder's, or an H.264 source's
// own (from its SPS), as browsers answer it (42c01f is offered as 42e01f: pion matches the
// first two bytes exactly, and libwebrtc answers in its own spelling).
func (m *machine) h264ProfileID() string {
	id, ok := m.sup.ProfileLevelID()
	if !ok {
		return encoderProfileID
	}
	pl, err := h264.ParseProfileLevelID(id)
	if err != nil {
		m.log.Warn("the source's H.264 profile cannot be offered to browsers; offering constrained baseline", "profile_level_id", id, "err", err)
		return encoderProfileID
	}
	return pl.String()
}

// checkDecodable refuses a console that cannot decode what an H.264 source sends: its
// profile is the source's, not one the agent chooses. Levels are not compared: browsers decode
// streams above the level they list (the agent's own 1080p is offered as level 3.1 too).
// A console that lists no profiles (an older page) is not checked.
func (m *machine) checkDecodable(consoleProfiles []string) error {
	if _, encoded := m.sup.Codec(); !encoded || len(consoleProfiles) == 0 {
		return nil
	}
	id, ok := m.sup.ProfileLevelID()
	if !ok {
		return nil
	}
	for _, p := range consoleProfiles {
		if h264.SameProfile(p, id) {
			return nil
		}
	}
	name := id
	if pl, err := h264.ParseProfileLevelID(id); err == nil {
		name = string(pl.Profile) + " (" + id + ")"
	}
	return fmt.Errorf("this browser cannot decode the source's H.264 %s stream; set the camera or encoder to the baseline or main profile, or open the console in a browser that decodes it", name)
}

// sessionEncoder is the encoder configuration a new session's congestion control starts
// from: sized as the source's last frame.
func (m *machine) sessionEncoder(base media.EncoderConfig) media.EncoderConfig {
	cfg := base
	cfg.Width, cfg.Height = m.sup.Size()
	return cfg.WithDefaults()
}

// acquireStream returns the running stream, starting one for codec if none runs. While a
// stream runs, a session needing another codec is refused: one source feeds one encoder.
func (m *machine) acquireStream(codec media.Codec, sid string, newEncoder EncoderFactory, base media.EncoderConfig, metrics *Metrics) (*stream, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stream != nil && m.stream.codec != codec {
		return nil, nil, fmt.Errorf("agent: already streaming %s to another console; this console asked for %s", m.stream.codec, codec)
	}
	if m.stream == nil {
		cfg := base
		cfg.Codec = codec
		st, err := startStream(m.sup, newEncoder, cfg, m.h264ProfileID(), m.log, metrics)
		if err != nil {
			return nil, nil, err
		}
		m.stream = st
		m.releaseSource = m.sup.Acquire()
		metrics.Streams.Inc()
	}
	m.viewers++
	metrics.VideoSessions.Inc()
	st := m.stream
	var once sync.Once
	return st, func() { once.Do(func() { m.releaseStream(st, sid, metrics) }) }, nil
}

func (m *machine) releaseStream(st *stream, sid string, metrics *Metrics) {
	metrics.VideoSessions.Dec()
	st.setBitrate(sid, 0)
	m.mu.Lock()
	m.viewers--
	last := m.viewers == 0 && m.stream == st
	var releaseSource func()
	if last {
		m.stream = nil
		releaseSource, m.releaseSource = m.releaseSource, nil
		m.lastUsed = time.Now()
	}
	m.mu.Unlock()
	if last {
		st.stop()
		releaseSource()
		metrics.Streams.Dec()
	}
}

// powerControl is the source's power control, if it has one and the device is not view-only
// (--hid none: consoles watch, and switching power is more than watching).
func (m *machine) powerControl() (device.PowerControl, bool) {
	if m.viewOnly {
		return nil, false
	}
	pc, ok := m.source.(device.PowerControl)
	return pc, ok
}

// displayControl is the source's screen choice, if it has one and the device is not
// view-only.
func (m *machine) displayControl() (device.DisplayControl, bool) {
	if m.viewOnly {
		return nil, false
	}
	dc, ok := m.source.(device.DisplayControl)
	return dc, ok
}
