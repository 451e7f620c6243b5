package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/backoff"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Version is reported to the relay in hello.
const Version = "0.1.0"

// Config configures an Agent.
type Config struct {
	// Server is the relay's base URL (http or https); the agent dials /ws/agent on it.
	Server string
	// Token authenticates the agent with a JWT agent token (kvmrelay token agent). An enrolled
	// agent sets Auth instead.
	Token string
	// Auth, when set, returns fresh headers for each connection's upgrade request (the
	// enrolled agent's proof of key); an error counts as a failed connection attempt.
	Auth func(ctx context.Context) (http.Header, error)
	// TLS configures an https relay: trusted roots and the device certificate for mTLS.
	TLS *tls.Config
	// HeartbeatInterval is how often the agent reports itself; default 10 s.
	HeartbeatInterval time.Duration
	// Source is the machine's video, and its input unless Input or ViewOnly says otherwise;
	// the agent supervises it (reconnects, no-signal card, health in heartbeats).
	Source device.Source
	// Gateway, instead of Source, makes the agent a gateway: it serves each machine the
	// relay names in a console's session (an Intel AMT GUID) as a source of its own, and
	// reports which machines it reaches (gateway.go).
	Gateway device.Gateway
	// GatewayPoll is how often a gateway asks which machines are reachable; default 10 s.
	GatewayPoll time.Duration
	// GatewayIdle is how long a gateway keeps a machine no console watches; default 2 min.
	GatewayIdle time.Duration
	// SourceKind is reported to the relay (e.g. "testpattern", "vnc").
	SourceKind string
	// Input, when set, receives the consoles' input instead of the source's own (a USB
	// gadget next to an MJPEG capture; --hid overriding a VNC source's input).
	Input hid.Sink
	// ViewOnly drops all input (--hid none): consoles watch.
	ViewOnly bool
	// Supervisor tunes the source's supervision (backoff, card); Source and Logger are set
	// by the agent.
	Supervisor device.SupervisorConfig
	NewEncoder EncoderFactory
	// Encoder sets frame rate and bitrates; the size follows the frames and Codec is chosen
	// per session.
	Encoder media.EncoderConfig
	// Codecs the agent can encode, preferred first; default H.264 then VP8.
	Codecs  []media.Codec
	WebRTC  WebRTCConfig
	Logger  *slog.Logger
	Metrics *Metrics
	// ReconnectMin and ReconnectMax bound the reconnect backoff; defaults 500 ms and 30 s.
	ReconnectMin, ReconnectMax time.Duration
	// HIDClock times the keep-alive watchdog and the handoff of control (request timeouts,
	// input bursts); nil is the system clock (tests inject).
	HIDClock hid.Clock
	// ControlRequestTimeout is how long a request for control waits for the controller's
	// answer; default 30 s.
	ControlRequestTimeout time.Duration
	// ConnectTimeout ends a console session that is not usable by then (not connected, or its
	// input channels not open); default 30 s.
	ConnectTimeout time.Duration
	// InputBurstInterval is how often a long stretch of control with input is reported to the
	// relay's audit chain in parts; default 60 s.
	InputBurstInterval time.Duration
	// Consent is the exchange a source that asks a person's consent (Intel AMT) waits on, the
	// same one its device.Options carry; nil when the source never asks. A gateway makes one
	// per machine.
	Consent *device.Consent
}

// Agent connects a device to a relay.
type Agent struct {
	cfg Config
	log *slog.Logger
	url string
	// own is the agent's own device's machine; nil for a gateway, whose machines come and go.
	own *machine
	// fleet tracks a gateway's reachable machines (nil otherwise).
	fleet *fleet

	// relay is the signaling connection to the relay; nil while reconnecting.
	relay atomic.Pointer[relayLink]

	mu       sync.Mutex
	sessions map[string]*session
	// machines are a gateway's, by target; machineCtx, set by Run, is what they run under.
	machines   map[string]*machine
	machineCtx context.Context

	// wg runs session ends triggered from signaling and pion's callbacks; shutdown closes it.
	wg group
}

// New checks cfg and makes an Agent; Run connects it.
func New(cfg Config) (*Agent, error) {
	if (cfg.Source == nil) == (cfg.Gateway == nil) || cfg.NewEncoder == nil || (cfg.Token == "" && cfg.Auth == nil) {
		return nil, errors.New("agent: config needs a source or a gateway, an encoder factory and a token or an identity")
	}
	if cfg.Gateway != nil && cfg.Input != nil {
		return nil, errors.New("agent: a gateway's machines bring their own input")
	}
	wsURL, err := agentURL(cfg.Server)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []media.Codec{media.CodecH264, media.CodecVP8}
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = 500 * time.Millisecond
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = 30 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 10 * time.Second
	}
	if cfg.Encoder.FPS <= 0 {
		cfg.Encoder.FPS = media.DefaultFPS
	}
	if cfg.SourceKind == "" {
		cfg.SourceKind = "unknown"
	}
	if cfg.GatewayPoll <= 0 {
		cfg.GatewayPoll = 10 * time.Second
	}
	if cfg.GatewayIdle <= 0 {
		cfg.GatewayIdle = 2 * time.Minute
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, url: wsURL, sessions: make(map[string]*session), machines: make(map[string]*machine)}
	if cfg.Gateway != nil {
		a.fleet = newFleet(cfg.Gateway, cfg.Logger)
	} else {
		a.own, err = newMachine(machineConfig{source: cfg.Source, input: cfg.Input, viewOnly: cfg.ViewOnly, consent: cfg.Consent,
			supervisor: cfg.Supervisor, codecs: cfg.Codecs, log: cfg.Logger, shared: a.sharedConfig()})
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// sharedConfig is what each machine's handoff of control takes from the agent.
func (a *Agent) sharedConfig() sharedConfig {
	return sharedConfig{clock: a.cfg.HIDClock, send: a.send, requestTimeout: a.cfg.ControlRequestTimeout,
		burstInterval: a.cfg.InputBurstInterval, metrics: a.cfg.Metrics,
		sendKeys: func(sid string, k wire.Keys) error { return a.trySend(sid, wire.TypeKeys, k) }}
}

// relayLink is the connection messages to the relay go out on (*sigclient.Client).
type relayLink struct{ messageSender }

// agentURL turns the relay's base URL into its agent WebSocket URL.
func agentURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("agent: server %q is not a URL like https://relay.example.com", server)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("agent: server %q: scheme must be http or https", server)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/ws/agent"
	return u.String(), nil
}

// Run keeps the agent connected until ctx ends, then ends every session and returns.
func (a *Agent) Run(ctx context.Context) error {
	supCtx, stopSupervisor := context.WithCancel(context.WithoutCancel(ctx))
	a.mu.Lock()
	a.machineCtx = supCtx
	a.mu.Unlock()
	var supervised sync.WaitGroup
	if a.own != nil {
		a.own.run(supCtx, a.reportConsent)
	} else {
		supervised.Go(func() { a.fleet.run(supCtx, a.cfg.GatewayPoll) })
		supervised.Go(func() { a.forgetIdleMachines(supCtx) })
	}
	defer func() {
		// Sessions end first (they read the sources), then the sources close.
		a.shutdown()
		stopSupervisor()
		supervised.Wait()
		a.closeMachines()
	}()
	b := backoff.Backoff{Min: a.cfg.ReconnectMin, Max: a.cfg.ReconnectMax}
	for {
		client, err := a.dial(ctx)
		if err == nil {
			b.Reset()
			a.serve(ctx, client)
		} else if ctx.Err() == nil {
			if errors.Is(err, sigclient.ErrRefused) && a.cfg.Auth != nil {
				a.log.Error("relay refused the agent's identity; if the device was revoked or its certificate expired, enroll it again (kvmagent enroll)", "err", err)
			} else if errors.Is(err, sigclient.ErrRefused) {
				a.log.Error("relay refused the agent; check the token (kvmrelay token agent --device NAME)", "err", err)
			} else {
				a.log.Warn("cannot reach relay", "url", a.url, "err", err)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := b.Next()
		a.log.Info("reconnecting", "in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// dial opens one signaling connection, with fresh credentials.
func (a *Agent) dial(ctx context.Context) (*sigclient.Client, error) {
	cfg := sigclient.DialConfig{URL: a.url, Token: a.cfg.Token, TLS: a.cfg.TLS, Logger: a.log}
	if a.cfg.Auth != nil {
		h, err := a.cfg.Auth(ctx)
		if err != nil {
			return nil, fmt.Errorf("agent: credentials for %s: %w", a.url, err)
		}
		cfg.Header = h
	}
	return sigclient.Dial(ctx, cfg)
}

// serve handles one signaling connection until it closes. Sessions live on: an established
// peer connection does not need signaling, so a relay restart does not cut a console.
func (a *Agent) serve(ctx context.Context, client *sigclient.Client) {
	link := &relayLink{client}
	a.relay.Store(link)
	defer func() {
		a.relay.CompareAndSwap(link, nil)
		client.Close()
	}()
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	codecs := make([]string, len(a.cfg.Codecs))
	for i, c := range a.cfg.Codecs {
		codecs[i] = string(c)
	}
	_ = client.Send(wire.TypeHello, "", wire.Hello{Version: Version, Sources: []string{a.cfg.SourceKind}, Codecs: codecs})
	if a.fleet != nil {
		a.fleet.connected(client)
	}
	beatCtx, stopBeats := context.WithCancel(ctx)
	var beats sync.WaitGroup
	beats.Go(func() { a.heartbeats(beatCtx, client, codecs) })
	defer func() { stopBeats(); beats.Wait() }()
	a.log.Info("connected to relay", "url", a.url)
	for {
		env, err := client.Recv()
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("relay connection lost", "err", err)
			}
			return
		}
		a.handle(ctx, env)
	}
}

// heartbeats reports the agent to the relay at once, every HeartbeatInterval, and when the
// source's health changes, until ctx ends: the relay's presence (online, last seen, version,
// capabilities, signal) comes from them.
func (a *Agent) heartbeats(ctx context.Context, client *sigclient.Client, codecs []string) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	// The relay records at most one heartbeat per device every 2 s: any heartbeat, periodic or
	// for a change, waits out the gap after the last one, so a change right after a periodic
	// beat is not dropped (its state is read when it is sent, so the latest one goes).
	gap := min(a.cfg.HeartbeatInterval, minHeartbeatGap)
	var last time.Time
	for {
		if wait := time.Until(last.Add(gap)); !last.IsZero() && wait > 0 {
			pause := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				pause.Stop()
				return
			case <-pause.C:
			}
		}
		changed := a.healthChanged()
		if err := client.Send(wire.TypeHeartbeat, "", a.heartbeat(codecs)); err != nil {
			a.log.Debug("heartbeat not sent", "err", err)
		}
		last = time.Now()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
		}
	}
}

// minHeartbeatGap spaces heartbeats sent on health changes (the relay drops closer ones).
const minHeartbeatGap = 2500 * time.Millisecond

// heartbeat is the agent's report now.
func (a *Agent) heartbeat(codecs []string) wire.Heartbeat {
	var h device.Health
	if a.own != nil {
		h = a.own.sup.Health()
	} else {
		h = a.fleet.health()
	}
	beat := wire.Heartbeat{Version: Version, Sources: []string{a.cfg.SourceKind}, Codecs: codecs,
		Signal: &wire.SourceHealth{Source: h.Source, State: string(h.State), Error: h.Error, Since: h.Since.UnixMilli()}}
	if h.Width > 0 {
		beat.Sizes = []string{fmt.Sprintf("%dx%d", h.Width, h.Height)}
	}
	return beat
}

// handle acts on one message from the relay.
func (a *Agent) handle(ctx context.Context, env wire.Envelope) {
	log := a.log.With("type", env.Type, "sid", env.SID)
	switch env.Type {
	case wire.TypeSessionStart:
		var start wire.SessionStart
		if err := wire.DecodeData(env, &start); err != nil || start.CheckKind() != nil {
			log.Warn("bad session-start", "err", errors.Join(err, start.CheckKind()))
			return
		}
		a.startSession(ctx, env.SID, start)
	case wire.TypeAnswer:
		var d wire.SDP
		if err := wire.DecodeData(env, &d); err != nil {
			log.Warn("bad answer", "err", err)
			return
		}
		if s := a.session(env.SID); s != nil {
			if err := s.handleAnswer(d.SDP); err != nil {
				log.Warn("answer refused", "err", err)
				s.end("answer refused")
			}
		}
	case wire.TypeCandidate:
		var c wire.Candidate
		if err := wire.DecodeData(env, &c); err != nil {
			log.Warn("bad candidate", "err", err)
			return
		}
		if s := a.session(env.SID); s != nil {
			if err := s.handleCandidate(c); err != nil {
				log.Debug("candidate refused", "err", err)
			}
		}
	case wire.TypeBye:
		if s := a.session(env.SID); s != nil {
			a.wg.Go(func() { s.end("console said bye") })
		}
	case wire.TypeConsentCode:
		var code wire.ConsentCode
		if err := wire.DecodeData(env, &code); err != nil || code.Check() != nil {
			log.Warn("bad consent-code", "err", err)
			return
		}
		a.handleConsentCode(ctx, env.SID, code)
	case wire.TypePowerAction:
		var action wire.PowerAction
		if err := wire.DecodeData(env, &action); err != nil || action.Check() != nil {
			log.Warn("bad power-action", "err", err)
			return
		}
		a.handlePowerAction(ctx, env.SID, action)
	case wire.TypeDisplay:
		var sel wire.DisplaySelect
		if err := wire.DecodeData(env, &sel); err != nil || sel.Check() != nil {
			log.Warn("bad display-select", "err", err)
			return
		}
		a.handleDisplaySelect(ctx, env.SID, sel)
	case wire.TypeControl:
		var c wire.Control
		if err := wire.DecodeData(env, &c); err != nil || c.Check() != nil {
			log.Warn("bad control", "err", err)
			return
		}
		a.handleControl(env.SID, c)
	case wire.TypeGrant:
		var g wire.GrantChange
		if err := wire.DecodeData(env, &g); err != nil || g.Check() != nil {
			log.Warn("bad grant", "err", err)
			return
		}
		a.handleGrant(env.SID, g)
	case wire.TypeError:
		var e wire.ErrorMessage
		_ = wire.DecodeData(env, &e)
		log.Warn("relay reported an error", "code", e.Code, "message", e.Message)
	default:
		log.Debug("ignored message")
	}
}

func (a *Agent) session(sid string) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[sid]
}

// startSession makes a new peer connection for sid, replacing one the console had before
// (it re-joins after a network change).
func (a *Agent) startSession(ctx context.Context, sid string, start wire.SessionStart) {
	if old := a.session(sid); old != nil {
		old.end("console re-joined")
	}
	m, err := a.machineFor(start.Target)
	if err != nil {
		a.log.Warn("console names no machine this agent serves", "sid", sid, "target", start.Target, "err", err)
		a.send(sid, wire.TypeBye, wire.Bye{Reason: err.Error()})
		return
	}
	// Without the agent's video, what the console decodes is the relay's business.
	if start.WantsVideo() {
		if err := m.checkDecodable(start.H264Profiles); err != nil {
			a.log.Warn("console cannot decode the source", "sid", sid, "err", err)
			a.send(sid, wire.TypeBye, wire.Bye{Reason: err.Error()})
			return
		}
	}
	s, err := newSession(ctx, sid, start, sessionDeps{
		webrtc: a.cfg.WebRTC,
		sink:   m.sink,
		acquire: func(codec media.Codec, sid string) (*stream, func(), error) {
			return m.acquireStream(codec, sid, a.cfg.NewEncoder, a.cfg.Encoder, a.cfg.Metrics)
		},
		codecs:         m.codecs,
		send:           a.send,
		onEnd:          a.forget,
		async:          a.wg.Go,
		log:            m.log,
		encoder:        m.sessionEncoder(a.cfg.Encoder),
		hidClock:       a.cfg.HIDClock,
		machine:        m,
		connectTimeout: a.cfg.ConnectTimeout,
	})
	if err != nil {
		a.log.Error("cannot start console session", "sid", sid, "err", err)
		a.send(sid, wire.TypeBye, wire.Bye{Reason: "the agent could not start the session: " + err.Error()})
		return
	}
	a.mu.Lock()
	a.sessions[sid] = s
	a.mu.Unlock()
	a.cfg.Metrics.Sessions.Inc()
	if start.Uplink {
		// The relay's own receiver: nobody to show on the roster, no input, no reports.
		return
	}
	// On the roster from now on; leaving it is the first thing the session's end does.
	if err := m.floor.join(sid, start.Name, start.Grant); err != nil {
		a.log.Warn("console not admitted to the machine's roster", "sid", sid, "err", err)
		s.end(err.Error())
		return
	}
	a.tellConsent(sid, m)
	a.tellPower(ctx, sid, m)
	a.tellDisplays(ctx, m, sid)
}

// forget drops an ended session.
func (a *Agent) forget(s *session) {
	a.mu.Lock()
	if a.sessions[s.sid] == s {
		delete(a.sessions, s.sid)
		a.cfg.Metrics.Sessions.Dec()
	}
	a.mu.Unlock()
	if s.endCause != "console said bye" {
		a.send(s.sid, wire.TypeBye, wire.Bye{Reason: s.endCause})
	}
}

// send delivers a message to the relay if connected; while reconnecting it is dropped (the
// console re-joins if negotiation stalls).
func (a *Agent) send(sid string, t wire.Type, data any) {
	if l := a.relay.Load(); l != nil {
		if err := l.Send(t, sid, data); err != nil {
			a.log.Debug("signaling send dropped", "type", t, "err", err)
		}
	}
}

// shutdown ends every session.
func (a *Agent) shutdown() {
	a.mu.Lock()
	sessions := make([]*session, 0, len(a.sessions))
	for _, s := range a.sessions {
		sessions = append(sessions, s)
	}
	a.mu.Unlock()
	for _, s := range sessions {
		s.end("agent shutting down")
	}
	a.wg.closeAndWait()
}

// viewOnly is the input of a device served with --hid none.
type viewOnly struct{}

func (viewOnly) Key(hid.Usage, bool) error      { return device.ErrNoInput }
func (viewOnly) Pointer(hid.PointerEvent) error { return device.ErrNoInput }

// lockedSink is a machine's input. The machine's hid.Arbiter serializes its consoles' input;
// the lock keeps a call that does not pass through the arbiter safe too.
type lockedSink struct {
	mu   sync.Mutex
	sink hid.Sink
}

func (l *lockedSink) Key(u hid.Usage, down bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sink.Key(u, down)
}

// LEDs reports the machine's keyboard LEDs when the sink reads them back (hid.LEDReporter; a
// USB gadget); ok is false otherwise.
func (l *lockedSink) LEDs() (leds hid.LEDs, changed <-chan struct{}, ok bool) {
	r, ok := l.sink.(hid.LEDReporter)
	if !ok {
		return 0, nil, false
	}
	leds, changed = r.LEDs()
	return leds, changed, true
}

// SetLayout hands the target's layout to a sink that translates keys itself (hid.LayoutSink).
func (l *lockedSink) SetLayout(layout *hid.Layout) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ls, ok := l.sink.(hid.LayoutSink); ok {
		ls.SetLayout(layout)
	}
}

func (l *lockedSink) Pointer(ev hid.PointerEvent) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sink.Pointer(ev)
}
