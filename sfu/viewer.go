package sfu

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Estimator is a viewer connection's bandwidth estimate; pion's cc.BandwidthEstimator (from
// ViewerAPI.NewPeerConnection) is one.
type Estimator interface {
	// GetTargetBitrate returns the estimate in bits per second.
	GetTargetBitrate() int
}

// ViewerConfig configures a Viewer.
type ViewerConfig struct {
	// ID names the viewer in logs (the console session).
	ID string
	// TrackID and StreamID are the track's identity in the viewer's SDP; default "video" and
	// "kvmrelay", as the agent's own track.
	TrackID, StreamID string
	// Estimator is the viewer connection's bandwidth estimate; nil never goes keyframes-only.
	Estimator Estimator
}

// Viewer is one viewer's down track: a webrtc.TrackLocal that sends the forwarder's stream on
// the one connection it is bound to. It reads its sender's RTCP itself (PLI/FIR, and what
// drives the connection's NACK responder and bandwidth estimator): the owner must not call
// the RTPSender's Read or ReadRTCP. Bind, Unbind and the RTCP reader run on pion's
// goroutines, forwarding on the forwarder's caller's.
type Viewer struct {
	f   *Forwarder
	cfg ViewerConfig
	log *slog.Logger

	mu      sync.Mutex
	closed  bool
	b       *binding
	m       *munger
	cc      *congestion
	based   bool // the munger has seen a packet
	waiting bool // nothing is sent until a keyframe starts
	// The current frame: whether it is forwarded, whether any of it went out, whether it was
	// counted as a keyframe; seenFrame once the viewer saw a frame start.
	fwdFrame, frameAny, frameKey, seenFrame bool
	lastAsk, lastKey                        time.Time
	estimate                                int
	stats                                   ViewerStats
	readers                                 int // RTCP readers running
	done                                    chan struct{}
}

// binding is where a Viewer sends: the negotiated SSRC, payload type and header extensions of
// its one connection, and the header reused for every packet to it.
type binding struct {
	id     string
	ssrc   uint32
	pt     uint8
	writer webrtc.TrackLocalWriter
	ext    []extensionPair
	hdr    rtp.Header
}

func newViewer(f *Forwarder, cfg ViewerConfig) *Viewer {
	if cfg.TrackID == "" {
		cfg.TrackID = "video"
	}
	if cfg.StreamID == "" {
		cfg.StreamID = "kvmrelay"
	}
	return &Viewer{
		f: f, cfg: cfg, log: f.log.With("viewer", cfg.ID),
		// RFC 3550 wants a random first sequence number.
		m:       newMunger(uint16(rand.Uint32())),
		cc:      newCongestion(f.cfg.Congestion),
		waiting: true,
		done:    make(chan struct{}),
	}
}

// Bind is called by pion when the viewer's connection starts sending: the track takes the
// negotiated codec matching the upstream's, and asks for a keyframe to start from.
func (v *Viewer) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, ok := matchCodec(v.f.cfg.Codec, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("sfu: viewer %s did not negotiate %s: %w", v.cfg.ID, v.f.cfg.Codec.MimeType, webrtc.ErrUnsupportedCodec)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.closed:
		return webrtc.RTPCodecParameters{}, ErrClosed
	case v.b != nil:
		return webrtc.RTPCodecParameters{}, fmt.Errorf("sfu: viewer %s is already bound to a connection", v.cfg.ID)
	}
	v.b = &binding{
		id: ctx.ID(), ssrc: uint32(ctx.SSRC()), pt: uint8(codec.PayloadType), writer: ctx.WriteStream(),
		ext: mapExtensions(v.f.cfg.HeaderExtensions, ctx.HeaderExtensions()),
	}
	v.enterWaitLocked()
	v.askLocked(v.f.cfg.Clock.Now())
	v.readers++
	go v.readRTCP(ctx.RTCPReader(), v.b.ssrc)
	return codec, nil
}

// Unbind is called by pion when the sender stops or replaces the track; forwarding to that
// connection stops. Its RTCP reader ends when pion closes the sender's stream, which a stop
// does (PeerConnection.Close, RemoveTrack) and ReplaceTrack does not: replace a Viewer only
// by stopping its sender.
func (v *Viewer) Unbind(ctx webrtc.TrackLocalContext) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.b == nil && v.closed {
		// Closed (or its forwarder was) before the sender stopped: nothing is bound any more,
		// and failing here would make pion skip closing the sender's stream, leaving the RTCP
		// reader running.
		return nil
	}
	if v.b == nil || v.b.id != ctx.ID() {
		return webrtc.ErrUnbindFailed
	}
	v.b = nil
	return nil
}

// ID is the track's ID.
func (v *Viewer) ID() string { return v.cfg.TrackID }

// RID is empty: no simulcast.
func (v *Viewer) RID() string { return "" }

// StreamID is the track's stream (MediaStream) ID.
func (v *Viewer) StreamID() string { return v.cfg.StreamID }

// Kind is the kind of the forwarded codec.
func (v *Viewer) Kind() webrtc.RTPCodecType {
	if strings.HasPrefix(strings.ToLower(v.f.cfg.Codec.MimeType), "audio/") {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}

// RequestKeyframe asks for a keyframe for this viewer. The owner may call it when the
// viewer's connection reaches connected: a keyframe forwarded before its transport was up
// was lost, and asking at once beats waiting for the retry.
func (v *Viewer) RequestKeyframe() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.closed {
		v.askLocked(v.f.cfg.Clock.Now())
	}
}

// Stats returns the viewer's counters and state.
func (v *Viewer) Stats() ViewerStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.stats
	s.WaitingForKeyframe = v.waiting
	s.KeyframesOnly = v.cc.keyframesOnly
	s.KeyframesOnlyEntered = v.cc.entered
	s.KeyframesOnlyTime = v.cc.keyframesOnlyTime(v.f.cfg.Clock.Now())
	s.EstimateBps = v.estimate
	if v.cfg.Estimator != nil {
		s.EstimateBps = v.cfg.Estimator.GetTargetBitrate()
	}
	return s
}

// Close stops forwarding to the viewer. The RTCP reader of its binding belongs to its
// connection: it ends when pion stops the sender (PeerConnection.Close, RemoveTrack).
// Done tells when it has.
func (v *Viewer) Close() {
	v.f.removeViewer(v)
	v.detach()
}

// Done is closed once the viewer is closed and its RTCP reader has returned.
func (v *Viewer) Done() <-chan struct{} { return v.done }

// detach marks the viewer closed, with nothing more to send.
func (v *Viewer) detach() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	v.closed, v.b = true, nil
	if v.readers == 0 {
		close(v.done)
	}
}

// readerDone records an RTCP reader's end.
func (v *Viewer) readerDone() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.readers--
	if v.closed && v.readers == 0 {
		close(v.done)
	}
}
