package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/asciifold"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// defaultConnectTimeout ends a session that is not usable by then (Config.ConnectTimeout).
const defaultConnectTimeout = 30 * time.Second

// session is one console's peer connection: the video track, the hid and pointer data
// channels, and the dispatcher that turns their messages into input for the device. A console
// whose video the relay forwards has no video track (stream nil); the relay's uplink has no
// data channels (uplink, hid nil) and is not on the machine's roster.
type session struct {
	sid     string
	machine *machine
	log     *slog.Logger
	pc      *webrtc.PeerConnection
	stream  *stream // nil: no video track
	uplink  bool
	// captureKeys: the relay asked for this session's keys (its organization records them).
	captureKeys bool
	release     func() // gives the stream back to the agent
	hid         *hid.Dispatcher
	send        func(t wire.Type, data any)
	onEnd       func(*session)
	// async runs f on a goroutine the agent waits for: session ends triggered from pion's
	// callbacks must not run on them (end closes the peer connection they belong to).
	async func(f func())

	// hidDC carries the agent's notes to the console (answers to probes) once it exists.
	hidDC atomic.Pointer[webrtc.DataChannel]

	mu         sync.Mutex
	remoteSet  bool
	candidates []webrtc.ICECandidateInit

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	endOnce  sync.Once
	started  time.Time
	endCause string
	// connectTimeout ends the session if it is not usable by then.
	connectTimeout time.Duration

	// callbacks counts pion's state-change calls, which run on goroutines of their own.
	callbacks group
}

// sessionDeps are what a session takes from its agent.
type sessionDeps struct {
	webrtc   WebRTCConfig
	sink     hid.Sink // the machine's input, for its keyboard LEDs
	acquire  func(codec media.Codec, sid string) (*stream, func(), error)
	codecs   []media.Codec // what this agent can encode, preferred first
	send     func(sid string, t wire.Type, data any)
	onEnd    func(*session)
	async    func(f func())
	log      *slog.Logger
	encoder  media.EncoderConfig
	hidClock hid.Clock
	machine  *machine // the machine the session shows
	// connectTimeout ends the session if it is not usable by then.
	connectTimeout time.Duration
}

// chooseCodec picks the first codec the agent prefers that the console can decode.
func chooseCodec(preferred []media.Codec, console []string) (media.Codec, error) {
	for _, c := range preferred {
		for _, have := range console {
			if asciifold.Equal(have, string(c)) {
				return c, nil
			}
		}
	}
	return "", fmt.Errorf("agent: the console decodes none of %v (it offered %q)", preferred, console)
}

// newSession builds the peer connection, sends the offer and returns; the rest happens in
// callbacks and the session's goroutines, which end with end().
func newSession(parent context.Context, sid string, start wire.SessionStart, deps sessionDeps) (*session, error) {
	log := deps.log.With("sid", sid, "principal", start.Principal)
	if start.Uplink {
		log = log.With("uplink", true)
	}
	// A session without video holds no stream: the encoder runs for those who watch it.
	var st *stream
	release := func() {}
	if start.WantsVideo() {
		codec, err := chooseCodec(deps.codecs, start.Codecs)
		if err != nil {
			return nil, err
		}
		st, release, err = deps.acquire(codec, sid)
		if err != nil {
			return nil, err
		}
	}
	s := &session{
		sid: sid, machine: deps.machine, log: log, stream: st, uplink: start.Uplink, captureKeys: start.CaptureKeys, release: release, onEnd: deps.onEnd, async: deps.async,
		started: time.Now(), connectTimeout: deps.connectTimeout,
		send: func(t wire.Type, data any) { deps.send(sid, t, data) },
	}
	s.ctx, s.cancel = context.WithCancel(parent)
	if err := s.setup(start, deps); err != nil {
		s.end("setup failed")
		return nil, err
	}
	return s, nil
}

func (s *session) setup(start wire.SessionStart, deps sessionDeps) error {
	profileID, clock := deps.machine.h264ProfileID(), &captureClock{}
	if s.stream != nil {
		profileID, clock = s.stream.h264ProfileID, s.stream.clock
	}
	api, err := newPeerAPI(deps.webrtc, deps.encoder, profileID, latencyExtensionsFactory{clock: clock, sid: s.sid, onAnswer: s.sendFrameNotes})
	if err != nil {
		return err
	}
	cfg := webrtc.Configuration{
		ICEServers:    toPionICEServers(start.ICEServers),
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	}
	s.pc, err = api.api.NewPeerConnection(cfg)
	if err != nil {
		return fmt.Errorf("agent: peer connection: %w", err)
	}
	if s.stream != nil {
		tr, err := s.pc.AddTransceiverFromTrack(s.stream.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("agent: add video track: %w", err)
		}
		s.wg.Go(func() { s.readRTCP(tr.Sender()) })
		// The uplink's estimate drives the encoder like a console's: the relay forwards
		// what it receives, so its path to the agent caps every relayed viewer.
		s.wg.Go(func() { s.followBandwidth(api) })
	}
	if !s.uplink {
		if err := s.setupInput(deps); err != nil {
			return err
		}
	}

	s.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			s.send(wire.TypeCandidate, wire.Candidate{Candidate: ""})
			return
		}
		init := c.ToJSON()
		s.send(wire.TypeCandidate, wire.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex})
	})
	s.pc.OnICEConnectionStateChange(func(state webrtc.ICEConnectionState) {
		s.log.Debug("ice", "state", state.String(), "after", time.Since(s.started).Round(time.Millisecond))
	})
	s.pc.OnICEGatheringStateChange(func(state webrtc.ICEGatheringState) {
		s.log.Debug("ice gathering", "state", state.String(), "after", time.Since(s.started).Round(time.Millisecond))
	})
	s.pc.OnConnectionStateChange(guarded(&s.callbacks, func(state webrtc.PeerConnectionState) {
		s.log.Info("peer connection", "state", state.String(), "after", time.Since(s.started).Round(time.Millisecond))
		switch state {
		case webrtc.PeerConnectionStateConnected:
			if s.stream != nil {
				s.stream.requestKeyframe()
			}
		case webrtc.PeerConnectionStateFailed:
			s.async(func() { s.end("ICE failed") })
		case webrtc.PeerConnectionStateClosed:
			s.async(func() { s.end("peer connection closed") })
		}
	}))
	s.wg.Go(s.connectDeadline)

	offer, err := s.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("agent: create offer: %w", err)
	}
	if err := s.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("agent: set local description: %w", err)
	}
	s.send(wire.TypeOffer, wire.SDP{SDP: offer.SDP})
	s.log.Debug("offer sent", "after", time.Since(s.started).Round(time.Millisecond))
	return nil
}

// setupInput opens the hid and pointer data channels and the dispatcher behind them.
func (s *session) setupInput(deps sessionDeps) error {
	// The session's input reaches the machine through its seat, while it holds control; the
	// machine's arbiter hands the controller's keyboard layout to a sink that translates keys.
	seat, err := s.machine.arb.Seat(s.sid)
	if err != nil {
		return fmt.Errorf("agent: input seat: %w", err)
	}
	if s.captureKeys {
		s.machine.floor.tapKeys(seat)
	}
	s.hid, err = hid.NewDispatcher(hid.Config{Seat: seat, Clock: deps.hidClock,
		OnProbe: s.probe})
	if err != nil {
		_ = seat.Close()
		return err
	}
	s.wg.Go(func() { _ = s.hid.Run(s.ctx) })
	ordered := true
	hidDC, err := s.pc.CreateDataChannel(hid.LabelHID, &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return fmt.Errorf("agent: hid channel: %w", err)
	}
	unordered, noRetransmits := false, uint16(0)
	ptrDC, err := s.pc.CreateDataChannel(hid.LabelPointer, &webrtc.DataChannelInit{Ordered: &unordered, MaxRetransmits: &noRetransmits})
	if err != nil {
		return fmt.Errorf("agent: pointer channel: %w", err)
	}
	s.hidDC.Store(hidDC)
	if leds, ok := deps.sink.(ledSource); ok {
		opened := make(chan struct{})
		var once sync.Once
		hidDC.OnOpen(func() { once.Do(func() { close(opened) }) })
		s.wg.Go(func() {
			select {
			case <-s.ctx.Done():
			case <-opened:
				s.reportLEDs(leds)
			}
		})
	}
	hidDC.OnMessage(func(m webrtc.DataChannelMessage) { s.hid.HandleMessage(hid.ChannelHID, m.IsString, m.Data) })
	ptrDC.OnMessage(func(m webrtc.DataChannelMessage) { s.hid.HandleMessage(hid.ChannelPointer, m.IsString, m.Data) })
	// A closed hid channel means the console can no longer lift a key: release everything.
	hidDC.OnClose(func() { s.async(func() { s.end("hid channel closed") }) })

	return nil
}

// probe answers a console's latency probe with the frame that first changed after it; a
// console without the agent's video has no frame to name.
func (s *session) probe(id uint32) {
	if s.stream != nil {
		s.stream.probe(s.sid, id)
	}
}

// ledSource is the agent's sink when its input may read the machine's keyboard LEDs back.
type ledSource interface {
	LEDs() (leds hid.LEDs, changed <-chan struct{}, ok bool)
}

// reportLEDs tells the console the machine's Caps/Num/Scroll Lock now and on every change,
// until the session ends.
func (s *session) reportLEDs(src ledSource) {
	for {
		leds, changed, ok := src.LEDs()
		if !ok {
			return
		}
		if dc := s.hidDC.Load(); dc != nil && dc.ReadyState() == webrtc.DataChannelStateOpen {
			if err := dc.Send(hid.AppendLEDs(nil, leds)); err != nil {
				s.log.Debug("LED note not sent", "err", err)
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-changed:
		}
	}
}

// sendFrameNotes tells the console which frame (by RTP timestamp) first changed after its
// probes. It runs inside the video write path: DataChannel.Send queues and returns.
func (s *session) sendFrameNotes(probes []uint32, rtpTimestamp uint32) {
	dc := s.hidDC.Load()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return
	}
	for _, p := range probes {
		if err := dc.Send(hid.AppendFrameNote(nil, hid.FrameNote{Probe: p, RTPTimestamp: rtpTimestamp})); err != nil {
			s.log.Debug("frame note not sent", "err", err)
			return
		}
	}
}

// readRTCP answers PLI and FIR with a keyframe (the encoder throttles repeats).
func (s *session) readRTCP(sender *webrtc.RTPSender) {
	for {
		packets, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range packets {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.stream.requestKeyframe()
			}
		}
	}
}

// followBandwidth feeds the send-side estimate into the encoder's bitrate, and its
// congestion signal into the resolution ladder.
func (s *session) followBandwidth(api *peerAPI) {
	select {
	case <-s.ctx.Done():
		return
	case est := <-api.estimators:
		est.OnTargetBitrateChange(func(bps int) { s.stream.setBitrate(s.sid, bps) })
		s.stream.setBitrate(s.sid, est.GetTargetBitrate())
		s.stream.watchPath(s.sid, est)
	}
}

// connectDeadline ends a session that never becomes usable: its peer connection never
// connects (the console went away mid-negotiation), or it connects but its input channels never
// open. The second is an SCTP handshake that gave up on a lossy path (pion's SCTP transport
// reports no error for it): video would play, but no key could reach the machine and nothing
// would say so, so the session ends and the console is told why.
func (s *session) connectDeadline() {
	t := time.NewTimer(s.connectTimeout)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
	case <-t.C:
		if cause := s.unusable(); cause != "" {
			// end waits for this goroutine, so it must run on another.
			s.async(func() { s.end(cause) })
		}
	}
}

// unusable says why the session is not usable yet, "" when it is.
func (s *session) unusable() string {
	if s.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		return "not connected within " + s.connectTimeout.String()
	}
	if dc := s.hidDC.Load(); dc != nil && dc.ReadyState() != webrtc.DataChannelStateOpen {
		return "the input channels did not open within " + s.connectTimeout.String() + " (the network path loses too many packets); connect again"
	}
	return ""
}

// handleAnswer applies the console's answer and the candidates that arrived before it.
func (s *session) handleAnswer(sdp string) error {
	// The relay checks this too; the agent does not trust the relay with its DTLS identity.
	if err := wire.CheckSDP(sdp); err != nil {
		return err
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("agent: set answer: %w", err)
	}
	s.log.Debug("answer applied", "after", time.Since(s.started).Round(time.Millisecond))
	s.mu.Lock()
	pending := s.candidates
	s.candidates, s.remoteSet = nil, true
	s.mu.Unlock()
	for _, c := range pending {
		if err := s.pc.AddICECandidate(c); err != nil {
			s.log.Debug("add buffered candidate", "err", err)
		}
	}
	return nil
}

// handleCandidate adds a console candidate, or buffers it until the answer is set.
func (s *session) handleCandidate(c wire.Candidate) error {
	if c.Candidate == "" {
		return nil // end of candidates: nothing to do for pion
	}
	init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	s.mu.Lock()
	if !s.remoteSet {
		if len(s.candidates) < maxBufferedCandidates {
			s.candidates = append(s.candidates, init)
		}
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if err := s.pc.AddICECandidate(init); err != nil {
		return fmt.Errorf("agent: add candidate: %w", err)
	}
	return nil
}

// maxBufferedCandidates bounds what a console can make the agent hold before its answer.
const maxBufferedCandidates = 64

// end closes the session once: off the machine's roster (control freed, held input
// released, the last input burst reported), peer connection closed, stream given back.
func (s *session) end(cause string) {
	s.endOnce.Do(func() {
		s.endCause = cause
		s.log.Info("session ended", "cause", cause, "lasted", time.Since(s.started).Round(time.Millisecond))
		// First, whatever ended the session (bye, ICE failure, the hid channel closing, a
		// shutdown): a controller's keys are released now, and the floor reports the burst
		// before the seat closes (closing a controller's seat would free control unreported).
		s.machine.floor.leave(s.sid)
		s.cancel()
		if s.hid != nil {
			// Close releases every key and button this console held (SECURITY.md item 11).
			if err := s.hid.Close(); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("release input", "err", err)
			}
		}
		if s.pc != nil {
			_ = s.pc.Close()
		}
		s.callbacks.closeAndWait()
		s.wg.Wait()
		s.release()
		if s.onEnd != nil {
			s.onEnd(s)
		}
	})
}

func toPionICEServers(in []wire.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}
