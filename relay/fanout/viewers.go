package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kvmrelay/kvmrelay/sfu"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// ViewersConfig configures Viewers.
type ViewersConfig struct {
	Hub *Hub
	// API configures the relay's send-only connections to viewers (network, candidate
	// addresses, bandwidth bounds).
	API sfu.APIConfig
	// ICEServers are the relay's own for a viewer's connection (its embedded TURN's
	// credentials for user); nil: host candidates only.
	ICEServers func(user string) []webrtc.ICEServer
	// AcquireTimeout bounds the wait for the machine's stream; default 20 s.
	AcquireTimeout time.Duration
	Logger         *slog.Logger
	Metrics        *Metrics
}

// Viewers makes the relay's video peer connections to relayed viewers (signaling.VideoRelay):
// each holds its machine's stream from the Hub and sends it to one console.
type Viewers struct {
	cfg ViewersConfig
	api *sfu.ViewerAPI
	ctx context.Context
	// stop ends every viewer; wg runs them.
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// NewViewers makes Viewers; Close ends them.
func NewViewers(cfg ViewersConfig) (*Viewers, error) {
	if cfg.Hub == nil {
		return nil, errors.New("fanout: viewers need a hub")
	}
	if cfg.AcquireTimeout <= 0 {
		cfg.AcquireTimeout = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	api, err := sfu.NewViewerAPI(cfg.API)
	if err != nil {
		return nil, fmt.Errorf("fanout: viewer api: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Viewers{cfg: cfg, api: api, ctx: ctx, stop: stop}, nil
}

// Close ends every viewer's connection and waits for them.
func (vs *Viewers) Close() {
	vs.stop()
	vs.wg.Wait()
}

// Decodes implements signaling.VideoRelay: the stream the relay forwards is in whichever of
// the hub's codecs the agent chose, so a relayed console must decode them all.
func (vs *Viewers) Decodes(codecs []string) bool {
	for _, want := range vs.cfg.Hub.cfg.Codecs {
		if !slices.ContainsFunc(codecs, func(c string) bool { return strings.EqualFold(c, want) }) {
			return false
		}
	}
	return true
}

// StartViewer implements signaling.VideoRelay: the viewer's connection runs until ctx ends, the
// returned peer is closed, or the Viewers are.
func (vs *Viewers) StartViewer(ctx context.Context, v signaling.RelayedViewer, send signaling.ViewerSend) (signaling.ViewerPeer, error) {
	if vs.ctx.Err() != nil {
		return nil, ErrClosed
	}
	// The viewer lives with the console's connection and with the Viewers, whichever ends first.
	pctx, cancel := context.WithCancel(ctx)
	stopWith := context.AfterFunc(vs.ctx, cancel)
	p := &viewerPeer{
		vs: vs, v: v, send: send, cancel: cancel, done: make(chan struct{}),
		answers: make(chan string, 1), candidates: make(chan wire.Candidate, maxPendingCandidates),
		log: vs.cfg.Logger.With("sid", v.SID, "device", v.Device),
	}
	vs.wg.Go(func() {
		defer close(p.done)
		defer stopWith()
		defer cancel()
		if err := p.run(pctx); err != nil && pctx.Err() == nil {
			p.log.Warn("relayed viewer ended", "err", err)
		}
	})
	return p, nil
}

// viewerPeer is one console's video connection on the relay.
type viewerPeer struct {
	vs         *Viewers
	v          signaling.RelayedViewer
	send       signaling.ViewerSend
	log        *slog.Logger
	cancel     context.CancelFunc
	done       chan struct{}
	answers    chan string
	candidates chan wire.Candidate
}

// ErrViewerEnded is returned for a message to a viewer whose connection ended.
var ErrViewerEnded = errors.New("fanout: the relayed viewer's connection ended")

// errBusy is returned when the console sends more than the connection can take.
var errBusy = errors.New("fanout: too many video negotiation messages at once")

// Answer implements signaling.ViewerPeer.
func (p *viewerPeer) Answer(sdp string) error {
	select {
	case <-p.done:
		return ErrViewerEnded
	case p.answers <- sdp:
		return nil
	default:
		return errBusy
	}
}

// Candidate implements signaling.ViewerPeer.
func (p *viewerPeer) Candidate(c wire.Candidate) error {
	select {
	case <-p.done:
		return ErrViewerEnded
	case p.candidates <- c:
		return nil
	default:
		return errBusy
	}
}

// Done is closed once the viewer's connection ended (a node link's server forgets it then).
func (p *viewerPeer) Done() <-chan struct{} { return p.done }

// Close implements signaling.ViewerPeer.
func (p *viewerPeer) Close() {
	p.cancel()
	<-p.done
}

// run holds the machine's stream, offers the console a send-only video connection and
// serves it until ctx ends or the connection fails. Teardown: the connection, the forwarder's
// viewer, then the hold.
func (p *viewerPeer) run(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, p.vs.cfg.AcquireTimeout)
	acquire := p.vs.cfg.Hub.Acquire
	if p.v.ForNode != "" {
		acquire = p.vs.cfg.Hub.AcquireAsHolder
	}
	fwd, release, err := acquire(actx, Machine{Device: p.v.Device, Agent: p.v.Agent, Target: p.v.Target})
	cancel()
	if err != nil {
		return err
	}
	defer release()

	cfg := webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle, RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire}
	if p.vs.cfg.ICEServers != nil {
		cfg.ICEServers = p.vs.cfg.ICEServers(p.v.SID)
	}
	pc, est, err := p.vs.api.NewPeerConnection(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = pc.Close() }()
	view, err := fwd.AddViewer(sfu.ViewerConfig{ID: p.v.SID, Estimator: est})
	if err != nil {
		return fmt.Errorf("fanout: add viewer: %w", err)
	}
	// The connection closes before the viewer (pion unbinds the track first); the earlier
	// deferred Close is then a no-op.
	defer func() { _ = pc.Close(); view.Close() }()
	if _, err := pc.AddTrack(view); err != nil {
		return fmt.Errorf("fanout: add viewer track: %w", err)
	}
	if p.v.ForNode == "" { // a node link is no console
		p.vs.cfg.Metrics.Viewers.Inc()
		defer p.vs.cfg.Metrics.Viewers.Dec()
	}

	failed := make(chan string, 1)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		cand := wire.Candidate{}
		if c != nil {
			init := c.ToJSON()
			cand = wire.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex}
		}
		if err := p.send(ctx, wire.TypeVideoCandidate, cand); err != nil {
			p.log.Debug("viewer candidate not sent", "err", err)
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		p.log.Debug("relayed viewer connection", "state", s.String())
		switch s {
		case webrtc.PeerConnectionStateConnected:
			// The forwarder sends a viewer nothing before a keyframe: ask for one now.
			view.RequestKeyframe()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			select {
			case failed <- s.String():
			default:
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("fanout: viewer offer: %w", err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("fanout: set viewer offer: %w", err)
	}
	if err := p.send(ctx, wire.TypeVideoOffer, wire.SDP{SDP: offer.SDP}); err != nil {
		return err
	}
	p.log.Info("relayed viewer offered", "codec", fwd.Codec().MimeType)

	var remoteSet bool
	var pending []webrtc.ICECandidateInit
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case state := <-failed:
			return errors.New("fanout: viewer connection " + state)
		case sdp := <-p.answers:
			if remoteSet {
				continue // one negotiation per join: a second answer has no offer
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
				return fmt.Errorf("fanout: console's answer: %w", err)
			}
			remoteSet = true
			for _, c := range pending {
				if err := pc.AddICECandidate(c); err != nil {
					p.log.Debug("add buffered viewer candidate", "err", err)
				}
			}
			pending = nil
		case c := <-p.candidates:
			if c.Candidate == "" {
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
				p.log.Debug("add viewer candidate", "err", err)
			}
		}
	}
}
