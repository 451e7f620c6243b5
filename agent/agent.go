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

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/signaling"
)

// Version is reported to the relay in hello.
const Version = "0.1.0"

// Device is what an agent serves: a picture and an input sink, e.g. the synthetic test
// pattern, a capture card plus USB gadget, or an RFB connection.
type Device interface {
	media.Source
	hid.Sink
}

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
	Device            Device
	// SourceName is reported to the relay (e.g. "testpattern").
	SourceName string
	NewEncoder EncoderFactory
	// Encoder sets sizes, frame rate and bitrates; Codec is chosen per session.
	Encoder media.EncoderConfig
	// Codecs the agent can encode, preferred first; default H.264 then VP8.
	Codecs  []media.Codec
	WebRTC  WebRTCConfig
	Logger  *slog.Logger
	Metrics *Metrics
	// ReconnectMin and ReconnectMax bound the reconnect backoff; defaults 500 ms and 30 s.
	ReconnectMin, ReconnectMax time.Duration
	// HIDClock times the keep-alive watchdog; nil is the system clock (tests inject).
	HIDClock hid.Clock
}

// Agent connects a device to a relay.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	sink *lockedSink
	url  string

	client atomic.Pointer[signaling.Client]

	mu       sync.Mutex
	sessions map[string]*session
	stream   *stream
	viewers  int

	wg sync.WaitGroup
}

// New checks cfg and makes an Agent; Run connects it.
func New(cfg Config) (*Agent, error) {
	if cfg.Device == nil || cfg.NewEncoder == nil || (cfg.Token == "" && cfg.Auth == nil) {
		return nil, errors.New("agent: config needs a device, an encoder factory and a token or an identity")
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
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = 500 * time.Millisecond
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = 30 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 10 * time.Second
	}
	w, h := cfg.Device.Size()
	cfg.Encoder.Width, cfg.Encoder.Height = w, h
	cfg.Encoder = cfg.Encoder.WithDefaults()
	return &Agent{
		cfg: cfg, log: cfg.Logger, url: wsURL,
		sink:     &lockedSink{sink: cfg.Device},
		sessions: make(map[string]*session),
	}, nil
}

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
	defer a.shutdown()
	b := backoff{Min: a.cfg.ReconnectMin, Max: a.cfg.ReconnectMax}
	for {
		client, err := a.dial(ctx)
		if err == nil {
			b.reset()
			a.serve(ctx, client)
		} else if ctx.Err() == nil {
			if errors.Is(err, signaling.ErrRefused) && a.cfg.Auth != nil {
				a.log.Error("relay refused the agent's identity; if the device was revoked or its certificate expired, enroll it again (kvmagent enroll)", "err", err)
			} else if errors.Is(err, signaling.ErrRefused) {
				a.log.Error("relay refused the agent; check the token (kvmrelay token agent --device NAME)", "err", err)
			} else {
				a.log.Warn("cannot reach relay", "url", a.url, "err", err)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := b.next()
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
func (a *Agent) dial(ctx context.Context) (*signaling.Client, error) {
	cfg := signaling.DialConfig{URL: a.url, Token: a.cfg.Token, TLS: a.cfg.TLS, Logger: a.log}
	if a.cfg.Auth != nil {
		h, err := a.cfg.Auth(ctx)
		if err != nil {
			return nil, fmt.Errorf("agent: credentials for %s: %w", a.url, err)
		}
		cfg.Header = h
	}
	return signaling.Dial(ctx, cfg)
}

// serve handles one signaling connection until it closes. Sessions live on: an established
// peer connection does not need signaling, so a relay restart does not cut a console.
func (a *Agent) serve(ctx context.Context, client *signaling.Client) {
	a.client.Store(client)
	defer func() {
		a.client.CompareAndSwap(client, nil)
		client.Close()
	}()
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	codecs := make([]string, len(a.cfg.Codecs))
	for i, c := range a.cfg.Codecs {
		codecs[i] = string(c)
	}
	_ = client.Send(signaling.TypeHello, "", signaling.Hello{Version: Version, Sources: []string{a.cfg.SourceName}, Codecs: codecs})
	beat := signaling.Heartbeat{Version: Version, Sources: []string{a.cfg.SourceName}, Codecs: codecs,
		Sizes: []string{fmt.Sprintf("%dx%d", a.cfg.Encoder.Width, a.cfg.Encoder.Height)}}
	beatCtx, stopBeats := context.WithCancel(ctx)
	var beats sync.WaitGroup
	beats.Go(func() { a.heartbeats(beatCtx, client, beat) })
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

// heartbeats reports the agent to the relay at once and then every HeartbeatInterval, until
// ctx ends: the relay's presence (online, last seen, version, capabilities) comes from them.
func (a *Agent) heartbeats(ctx context.Context, client *signaling.Client, beat signaling.Heartbeat) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		if err := client.Send(signaling.TypeHeartbeat, "", beat); err != nil {
			a.log.Debug("heartbeat not sent", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// handle acts on one message from the relay.
func (a *Agent) handle(ctx context.Context, env signaling.Envelope) {
	log := a.log.With("type", env.Type, "sid", env.SID)
	switch env.Type {
	case signaling.TypeSessionStart:
		var start signaling.SessionStart
		if err := signaling.DecodeData(env, &start); err != nil {
			log.Warn("bad session-start", "err", err)
			return
		}
		a.startSession(ctx, env.SID, start)
	case signaling.TypeAnswer:
		var d signaling.SDP
		if err := signaling.DecodeData(env, &d); err != nil {
			log.Warn("bad answer", "err", err)
			return
		}
		if s := a.session(env.SID); s != nil {
			if err := s.handleAnswer(d.SDP); err != nil {
				log.Warn("answer refused", "err", err)
				s.end("answer refused")
			}
		}
	case signaling.TypeCandidate:
		var c signaling.Candidate
		if err := signaling.DecodeData(env, &c); err != nil {
			log.Warn("bad candidate", "err", err)
			return
		}
		if s := a.session(env.SID); s != nil {
			if err := s.handleCandidate(c); err != nil {
				log.Debug("candidate refused", "err", err)
			}
		}
	case signaling.TypeBye:
		if s := a.session(env.SID); s != nil {
			a.wg.Go(func() { s.end("console said bye") })
		}
	case signaling.TypeError:
		var e signaling.ErrorMessage
		_ = signaling.DecodeData(env, &e)
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
func (a *Agent) startSession(ctx context.Context, sid string, start signaling.SessionStart) {
	if old := a.session(sid); old != nil {
		old.end("console re-joined")
	}
	s, err := newSession(ctx, sid, start, sessionDeps{
		webrtc:   a.cfg.WebRTC,
		sink:     a.sink,
		acquire:  a.acquireStream,
		codecs:   a.cfg.Codecs,
		send:     a.send,
		onEnd:    a.forget,
		async:    a.wg.Go,
		log:      a.log,
		encoder:  a.cfg.Encoder,
		hidClock: a.cfg.HIDClock,
	})
	if err != nil {
		a.log.Error("cannot start console session", "sid", sid, "err", err)
		a.send(sid, signaling.TypeBye, signaling.Bye{Reason: "the agent could not start the session: " + err.Error()})
		return
	}
	a.mu.Lock()
	a.sessions[sid] = s
	a.mu.Unlock()
	a.cfg.Metrics.Sessions.Inc()
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
		a.send(s.sid, signaling.TypeBye, signaling.Bye{Reason: s.endCause})
	}
}

// send delivers a message to the relay if connected; while reconnecting it is dropped (the
// console re-joins if negotiation stalls).
func (a *Agent) send(sid string, t signaling.Type, data any) {
	if c := a.client.Load(); c != nil {
		if err := c.Send(t, sid, data); err != nil {
			a.log.Debug("signaling send dropped", "type", t, "err", err)
		}
	}
}

// acquireStream returns the running stream, starting one for codec if none runs. While a
// stream runs, a session needing another codec is refused: one source feeds one encoder.
func (a *Agent) acquireStream(codec media.Codec, sid string) (*stream, func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stream != nil && a.stream.codec != codec {
		return nil, nil, fmt.Errorf("agent: already streaming %s to another console; this console asked for %s", a.stream.codec, codec)
	}
	if a.stream == nil {
		cfg := a.cfg.Encoder
		cfg.Codec = codec
		st, err := startStream(a.cfg.Device, a.cfg.NewEncoder, cfg, a.log, a.cfg.Metrics)
		if err != nil {
			return nil, nil, err
		}
		a.stream = st
	}
	a.viewers++
	st := a.stream
	var once sync.Once
	return st, func() { once.Do(func() { a.releaseStream(st, sid) }) }, nil
}

func (a *Agent) releaseStream(st *stream, sid string) {
	st.setBitrate(sid, 0)
	a.mu.Lock()
	a.viewers--
	last := a.viewers == 0 && a.stream == st
	if last {
		a.stream = nil
	}
	a.mu.Unlock()
	if last {
		st.stop()
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
	a.wg.Wait()
}

// lockedSink serializes input from several sessions into one device.
type lockedSink struct {
	mu   sync.Mutex
	sink hid.Sink
}

func (l *lockedSink) Key(u hid.Usage, down bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sink.Key(u, down)
}

func (l *lockedSink) Pointer(ev hid.PointerEvent) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sink.Pointer(ev)
}
