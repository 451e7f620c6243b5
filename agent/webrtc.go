package agent

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/kvmrelay/kvmrelay/media"
)

// WebRTCConfig tunes the agent's peer connections.
type WebRTCConfig struct {
	// Net replaces the real network (pion's vnet in tests); nil uses the host's.
	Net transport.Net
	// IncludeLoopback adds 127.0.0.1 host candidates (same-machine demos and tests).
	IncludeLoopback bool
	// InterfaceFilter limits the interfaces gathered from; nil gathers from all.
	InterfaceFilter func(name string) bool
	// IPFilter limits host candidate addresses; nil keeps all.
	IPFilter func(ip net.IP) bool
	// RelayAcceptanceWait is how long the agent (ICE controlling) waits for a better pair
	// before nominating a relayed one. pion's default of 2 s delays every relayed console.
	RelayAcceptanceWait time.Duration
	// LoggerFactory for pion's internals; nil is quiet.
	LoggerFactory logging.LoggerFactory
}

// Payload types and the H.264 profile the agent offers. What it encodes itself is constrained
// baseline, packetization-mode 1: every browser decodes it, in hardware where there is some. A
// source that delivers H.264 itself is offered with its own SPS's profile-level-id.
const (
	payloadTypeH264    = 102
	payloadTypeVP8     = 96
	encoderProfileID   = "42e01f"
	h264FmtpWithoutPLI = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id="
)

// h264Fmtp is the fmtp line offering profile-level-id id.
func h264Fmtp(id string) string { return h264FmtpWithoutPLI + id }

func videoFeedback() []webrtc.RTCPFeedback {
	return []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: webrtc.TypeRTCPFBTransportCC},
	}
}

// codecCapability is the RTP capability of one of the agent's codecs; profileID is the H.264
// profile-level-id to offer.
func codecCapability(c media.Codec, profileID string) (webrtc.RTPCodecCapability, error) {
	switch c {
	case media.CodecH264:
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264Fmtp(profileID), RTCPFeedback: videoFeedback()}, nil
	case media.CodecVP8:
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback()}, nil
	}
	return webrtc.RTPCodecCapability{}, fmt.Errorf("agent: unsupported codec %q", c)
}

// peerAPI is a webrtc.API for one session plus the bandwidth estimator it will create.
type peerAPI struct {
	api        *webrtc.API
	estimators chan cc.BandwidthEstimator
}

// newPeerAPI builds the media engine (H.264 + VP8, TWCC, latency extensions), the interceptors
// (NACK, RTCP reports, TWCC, GCC send-side estimation with no pacer) and the ICE settings.
func newPeerAPI(cfg WebRTCConfig, enc media.EncoderConfig, h264ProfileID string, latency latencyExtensionsFactory) (*peerAPI, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range []struct {
		codec media.Codec
		pt    webrtc.PayloadType
	}{{media.CodecH264, payloadTypeH264}, {media.CodecVP8, payloadTypeVP8}} {
		capability, err := codecCapability(c.codec, h264ProfileID)
		if err != nil {
			return nil, err
		}
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: capability, PayloadType: c.pt}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("agent: register %s: %w", c.codec, err)
		}
	}
	for _, uri := range []string{playoutDelayURI, absCaptureTimeURI} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverDirectionSendonly); err != nil {
			return nil, fmt.Errorf("agent: register extension %s: %w", uri, err)
		}
	}

	reg := &interceptor.Registry{}
	estimators := make(chan cc.BandwidthEstimator, 1)
	congestion, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		// No pacer: a paced keyframe waits behind the bucket, and on a console a late frame
		// is worse than a brief burst. GCC still backs the encoder off when queues build.
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(enc.StartBitrate),
			gcc.SendSideBWEMinBitrate(enc.MinBitrate),
			gcc.SendSideBWEMaxBitrate(enc.MaxBitrate),
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
		)
	})
	if err != nil {
		return nil, fmt.Errorf("agent: congestion controller: %w", err)
	}
	congestion.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) {
		select {
		case estimators <- e:
		default:
		}
	})
	reg.Add(congestion)
	reg.Add(latency)
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
		return nil, fmt.Errorf("agent: twcc: %w", err)
	}
	if err := webrtc.ConfigureNack(m, reg); err != nil {
		return nil, fmt.Errorf("agent: nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, fmt.Errorf("agent: rtcp reports: %w", err)
	}

	se := webrtc.SettingEngine{}
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
	}
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	if cfg.InterfaceFilter != nil {
		se.SetInterfaceFilter(cfg.InterfaceFilter)
	}
	if cfg.IPFilter != nil {
		se.SetIPFilter(cfg.IPFilter)
	}
	se.SetHostAcceptanceMinWait(0)
	se.SetSrflxAcceptanceMinWait(50 * time.Millisecond)
	se.SetPrflxAcceptanceMinWait(50 * time.Millisecond)
	// Relayed pairs get the same head start as server-reflexive ones: on a real network a
	// direct check needs at least one round trip and a relayed one at least that plus the TURN
	// hop, so a direct path that exists still wins, and a relay-only console is not held back.
	wait := cfg.RelayAcceptanceWait
	if wait <= 0 {
		wait = 50 * time.Millisecond
	}
	se.SetRelayAcceptanceMinWait(wait)
	// Fail over quickly: a console whose path died should reconnect in seconds, not 30.
	se.SetICETimeouts(3*time.Second, 10*time.Second, time.Second)
	// pion's first DTLS retransmission waits 1 s (doubling): on a lossy path that turns one
	// lost handshake flight into seconds of black screen. Retry sooner.
	se.SetDTLSRetransmissionInterval(dtlsRetransmission)
	// SCTP's retransmission timer backs off up to 60 s by default: on a lossy path a lost key
	// event could then wait tens of seconds. HID traffic is tiny, so spurious retransmits cost
	// nothing; waiting costs the person at the keyboard.
	se.SetSCTPRTOMax(sctpRTOMax)
	// Cap data-channel messages: pion accepts ~1 GiB by default (SECURITY.md item 10).
	se.SetSCTPMaxMessageSize(maxDataChannelMessage)
	se.SetSCTPMaxReceiveBufferSize(maxSCTPReceiveBuffer)
	if cfg.LoggerFactory != nil {
		se.LoggerFactory = cfg.LoggerFactory
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	return &peerAPI{api: api, estimators: estimators}, nil
}

// dtlsRetransmission is the first DTLS handshake retransmission timeout (it doubles);
// sctpRTOMax caps SCTP's retransmission timeout.
const (
	dtlsRetransmission = 100 * time.Millisecond
	sctpRTOMax         = time.Second
)

// Data-channel limits: HID messages are at most 16 KiB; nothing bigger is ever valid.
const (
	maxDataChannelMessage = 64 << 10
	maxSCTPReceiveBuffer  = 256 << 10
)

// gccStats is what the ladder reads from a session's GCC estimator (pion's
// *gcc.SendSideBWE).
type gccStats interface {
	GetStats() map[string]any
}

// lossCongested is the average loss at and above which a path counts as congested: GCC's
// loss controller stops raising its estimate at 2%, so the estimate is a real limit there.
const lossCongested = 0.02

// gccWatch turns one session's GCC statistics into the ladder's congestion signal.
//
// pion's estimator publishes its statistics only when its delay controller updates its
// target; in the hold state (after an overuse, while the queue drains) the last overuse
// stays published. A reading identical to the previous one is therefore stale, and shows
// no new congestion: else one spike would look like seconds of it.
type gccWatch struct {
	est  gccStats
	last gccReading
	seen bool // fresh congestion polled since congested last reported
}

// gccReading is the part of GCC's statistics the ladder uses; fresh readings differ in
// their delay measurement.
type gccReading struct {
	// target is 0 until the delay controller first publishes: until then every field is
	// its zero value, and the zero usage reads "overuse".
	target                 int
	usage                  string
	loss                   float64
	measurement, threshold float64
}

func readGCC(stats map[string]any) gccReading {
	r := gccReading{}
	r.target, _ = stats["delayTargetBitrate"].(int)
	r.usage, _ = stats["usage"].(string)
	r.loss, _ = stats["averageLoss"].(float64)
	r.measurement, _ = stats["delayMeasurement"].(float64)
	r.threshold, _ = stats["delayThreshold"].(float64)
	return r
}

// poll reads the estimator and remembers fresh congestion until congested reports it. The
// stream polls whenever GCC changes its target (every update of a decrease), so an overuse
// published between two frames is not missed.
func (g *gccWatch) poll() {
	if g == nil || g.est == nil {
		return
	}
	r := readGCC(g.est.GetStats())
	if r.target <= 0 || r == g.last {
		return
	}
	g.last = r
	g.seen = g.seen || r.usage == "overuse" || r.loss >= lossCongested
}

// congested reports whether the estimator showed congestion since the last call: a fresh
// reading with delay overuse or loss at lossCongested or more.
func (g *gccWatch) congested() bool {
	if g == nil {
		return false
	}
	g.poll()
	seen := g.seen
	g.seen = false
	return seen
}
