package fanout

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

	"github.com/kvmrelay/kvmrelay/internal/backoff"
	"github.com/kvmrelay/kvmrelay/sfu"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// upstream is one machine's uplink loop: it keeps an uplink session (with the agent, or with
// the node holding the machine) while the stream is held, and feeds what it receives to the
// held stream's forwarder.
type upstream struct {
	hub  *Hub
	held *held
	log  *slog.Logger

	// pli is where a keyframe request goes now: the current connection's track.
	pli atomic.Pointer[pliTarget]
	// holding tells whether this node claimed the machine's stream lease (released at the end).
	holding atomic.Bool
}

type pliTarget struct {
	pc   *webrtc.PeerConnection
	ssrc uint32
}

// requestKeyframe sends a PLI upstream (the forwarder throttles the calls).
func (u *upstream) requestKeyframe() {
	if t := u.pli.Load(); t != nil {
		if err := t.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: t.ssrc}}); err != nil {
			u.log.Debug("upstream PLI not sent", "err", err)
		}
	}
}

// run receives the stream until ctx ends, starting again after each connection that ended,
// waiting longer after each that failed. Across nodes each attempt first settles who holds
// the machine (lease.go): this node, which then receives it from the agent, or another node,
// which then sends it here over a node link.
func (u *upstream) run(ctx context.Context) {
	defer u.releaseLease()
	b := backoff.Backoff{Min: u.hub.cfg.RetryMin, Max: u.hub.cfg.RetryMax}
	for ctx.Err() == nil {
		connected, err := u.attempt(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			b.Reset()
		}
		wait := b.Next()
		u.log.Warn("uplink ended; starting it again", "err", err, "in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// uplinkSession is the signaling of one connection the stream arrives on: an uplink with the
// agent (*signaling.Uplink) or a node link with the holding node (*signaling.StreamLink). The
// far end offers; this node answers.
type uplinkSession interface {
	SID() string
	Messages() <-chan wire.Envelope
	Send(ctx context.Context, t wire.Type, data any) error
	Close()
}

// startSession starts an uplinkSession for the held machine.
type startSession func(ctx context.Context, t signaling.UplinkTarget) (uplinkSession, error)

// once runs one session to its end; connected tells whether video flowed. viaNode says the
// session is a node link (counted apart from agents' uplinks).
func (u *upstream) once(ctx context.Context, start startSession, viaNode bool) (connected bool, err error) {
	m := u.held.machine
	startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	link, err := start(startCtx, signaling.UplinkTarget{Device: m.Device, Agent: m.Agent, Target: m.Target, Codecs: u.hub.cfg.Codecs})
	cancel()
	if err != nil {
		return false, err
	}
	defer link.Close()
	connectedGauge := u.hub.cfg.Metrics.Uplinks
	if viaNode {
		u.hub.cfg.Metrics.NodeLinkStarts.Inc()
		connectedGauge = u.hub.cfg.Metrics.NodeLinks
	} else {
		u.hub.cfg.Metrics.UplinkStarts.Inc()
	}
	log := u.log.With("sid", link.SID())

	cfg := webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle, RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire}
	if u.hub.cfg.ICEServers != nil {
		cfg.ICEServers = u.hub.cfg.ICEServers(link.SID())
	}
	pc, err := u.hub.api.NewPeerConnection(cfg)
	if err != nil {
		return false, fmt.Errorf("fanout: uplink connection: %w", err)
	}
	tracks := make(chan trackArrival, 1)
	failed := make(chan string, 1)
	var reading sync.WaitGroup
	defer func() {
		u.pli.Store(nil)
		_ = pc.Close()
		reading.Wait()
	}()
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		cand := wire.Candidate{}
		if c != nil {
			init := c.ToJSON()
			cand = wire.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex}
		}
		if err := link.Send(ctx, wire.TypeCandidate, cand); err != nil {
			log.Debug("uplink candidate not sent", "err", err)
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		select {
		case tracks <- trackArrival{track: tr, receiver: rcv}:
		default:
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		log.Debug("uplink connection", "state", s.String())
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			select {
			case failed <- s.String():
			default:
			}
		}
	})

	var remoteSet bool
	var pending []webrtc.ICECandidateInit
	deadline := time.NewTimer(connectTimeout)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return connected, ctx.Err()
		case <-deadline.C:
			if !connected {
				return false, errors.New("fanout: no video within " + connectTimeout.String())
			}
		case state := <-failed:
			return connected, errors.New("fanout: uplink connection " + state)
		case a := <-tracks:
			if err := u.attach(log, pc, a, &reading); err != nil {
				return connected, err
			}
			connected = true
			connectedGauge.Inc()
			defer connectedGauge.Dec()
		case env, ok := <-link.Messages():
			if !ok {
				return connected, errors.New("fanout: uplink signaling ended")
			}
			switch env.Type {
			case wire.TypeOffer:
				if err := u.answer(ctx, link, pc, env); err != nil {
					return connected, err
				}
				remoteSet = true
				for _, c := range pending {
					if err := pc.AddICECandidate(c); err != nil {
						log.Debug("add buffered uplink candidate", "err", err)
					}
				}
				pending = nil
			case wire.TypeCandidate:
				var c wire.Candidate
				if err := wire.DecodeData(env, &c); err != nil || c.Candidate == "" {
					continue
				}
				init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
				if !remoteSet {
					if len(pending) < maxPendingCandidates {
						pending = append(pending, init)
					}
					continue
				}
				if err := pc.AddICECandidate(init); err != nil {
					log.Debug("add uplink candidate", "err", err)
				}
			case wire.TypeBye:
				var bye wire.Bye
				_ = wire.DecodeData(env, &bye)
				return connected, fmt.Errorf("fanout: the far end ended the uplink: %s", bye.Reason)
			}
		}
	}
}

// connectTimeout ends an uplink that delivered no track by then.
const connectTimeout = 20 * time.Second

// maxPendingCandidates bounds the candidates kept before the agent's offer.
const maxPendingCandidates = 64

type trackArrival struct {
	track    *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
}

// answer applies the agent's offer and sends the relay's answer.
func (u *upstream) answer(ctx context.Context, link uplinkSession, pc *webrtc.PeerConnection, env wire.Envelope) error {
	var d wire.SDP
	if err := wire.DecodeData(env, &d); err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: d.SDP}); err != nil {
		return fmt.Errorf("fanout: the far end's offer: %w", err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("fanout: answer: %w", err)
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("fanout: set answer: %w", err)
	}
	return link.Send(ctx, wire.TypeAnswer, wire.SDP{SDP: ans.SDP})
}

// attach feeds a track to the held stream's forwarder, making it with the first track.
func (u *upstream) attach(log *slog.Logger, pc *webrtc.PeerConnection, a trackArrival, reading *sync.WaitGroup) error {
	codec := a.track.Codec().RTPCodecCapability
	s := u.held
	if s.fwd == nil {
		cfg := u.hub.cfg.Forwarder
		cfg.Codec = codec
		cfg.HeaderExtensions = a.receiver.GetParameters().HeaderExtensions
		cfg.OnKeyframeRequest = u.requestKeyframe
		cfg.Logger = log
		fwd, err := sfu.NewForwarder(cfg)
		if err != nil {
			return fmt.Errorf("fanout: forwarder: %w", err)
		}
		s.fwd = fwd
		close(s.ready)
	} else if s.fwd.Codec().MimeType != codec.MimeType {
		// The viewers negotiated the first codec: a stream in another cannot reach them.
		return fmt.Errorf("fanout: the agent now sends %s, the relayed stream is %s", codec.MimeType, s.fwd.Codec().MimeType)
	}
	u.pli.Store(&pliTarget{pc: pc, ssrc: uint32(a.track.SSRC())})
	log.Info("uplink receiving", "codec", codec.MimeType)
	fwd := s.fwd
	reading.Go(func() {
		for {
			p, _, err := a.track.ReadRTP()
			if err != nil {
				return
			}
			_ = fwd.WriteRTP(p)
		}
	})
	return nil
}
