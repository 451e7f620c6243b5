package sfu

import (
	"errors"
	"fmt"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// APIConfig configures the pion APIs of the relay's two hops.
type APIConfig struct {
	// Codecs are negotiated on the hop; nil is VideoCodecs(DefaultH264ProfileID). A viewer's
	// must include the forwarded stream's codec.
	Codecs []webrtc.RTPCodecParameters
	// Net replaces the host's network (pion's vnet in tests).
	Net transport.Net
	// LoggerFactory for pion's internals; nil is pion's default.
	LoggerFactory logging.LoggerFactory
	// Settings adjusts the setting engine last (candidate addresses, UDP mux, ICE and DTLS
	// timers): the relay's network is the owner's business.
	Settings func(*webrtc.SettingEngine)
	// InitialBitrate, MinBitrate and MaxBitrate bound a viewer connection's estimate. It
	// starts high: a viewer is assumed to carry the stream until its link says otherwise.
	InitialBitrate, MinBitrate, MaxBitrate int
}

// Viewer bandwidth estimate defaults, in bits per second.
const (
	DefaultInitialBitrate = 8_000_000
	DefaultMinBitrate     = 50_000
	DefaultMaxBitrate     = 50_000_000
)

func (c APIConfig) withDefaults() APIConfig {
	if c.Codecs == nil {
		c.Codecs = VideoCodecs(DefaultH264ProfileID)
	}
	if c.InitialBitrate <= 0 {
		c.InitialBitrate = DefaultInitialBitrate
	}
	if c.MinBitrate <= 0 {
		c.MinBitrate = DefaultMinBitrate
	}
	if c.MaxBitrate <= 0 {
		c.MaxBitrate = DefaultMaxBitrate
	}
	c.MaxBitrate = max(c.MaxBitrate, c.InitialBitrate)
	c.MinBitrate = min(c.MinBitrate, c.InitialBitrate)
	return c
}

// mediaEngine registers the codecs and the latency extensions the agent sends (forwarded by
// URI, see Config.HeaderExtensions) for direction.
func (c APIConfig) mediaEngine(direction webrtc.RTPTransceiverDirection) (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	for _, codec := range c.Codecs {
		if err := m.RegisterCodec(codec, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("sfu: register %s: %w", codec.MimeType, err)
		}
	}
	for _, uri := range []string{PlayoutDelayURI, AbsCaptureTimeURI} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo, direction); err != nil {
			return nil, fmt.Errorf("sfu: register extension %s: %w", uri, err)
		}
	}
	return m, nil
}

func (c APIConfig) settingEngine() webrtc.SettingEngine {
	se := webrtc.SettingEngine{}
	if c.Net != nil {
		se.SetNet(c.Net)
	}
	if c.LoggerFactory != nil {
		se.LoggerFactory = c.LoggerFactory
	}
	if c.Settings != nil {
		c.Settings(&se)
	}
	return se
}

// NewUpstreamAPI returns the API for the relay's receive-only connection to an agent: it
// NACKs lost packets (so late ones reach the Forwarder, which places them), sends receiver
// reports and transport-wide congestion feedback (the agent's GCC sizes the one stream by
// this hop), and accepts the latency extensions.
func NewUpstreamAPI(cfg APIConfig) (*webrtc.API, error) {
	cfg = cfg.withDefaults()
	m, err := cfg.mediaEngine(webrtc.RTPTransceiverDirectionRecvonly)
	if err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	generator, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, fmt.Errorf("sfu: nack generator: %w", err)
	}
	reg.Add(generator)
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, fmt.Errorf("sfu: rtcp reports: %w", err)
	}
	if err := webrtc.ConfigureTWCCSender(m, reg); err != nil {
		return nil, fmt.Errorf("sfu: twcc feedback: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(cfg.settingEngine())), nil
}

// ViewerAPI builds the relay's send-only connections to viewers, each with its own bandwidth
// estimator: interceptors as the agent's own (GCC send-side estimation without a pacer,
// transport-cc sequence numbers, a NACK responder, sender reports).
type ViewerAPI struct {
	api *webrtc.API

	mu sync.Mutex
	// created receives the estimator of the connection being built: pion builds a
	// connection's interceptors inside NewPeerConnection, on the caller's goroutine, while mu
	// is held.
	created cc.BandwidthEstimator
}

// NewViewerAPI returns the API for viewers' connections.
func NewViewerAPI(cfg APIConfig) (*ViewerAPI, error) {
	cfg = cfg.withDefaults()
	m, err := cfg.mediaEngine(webrtc.RTPTransceiverDirectionSendonly)
	if err != nil {
		return nil, err
	}
	a := &ViewerAPI{}
	reg := &interceptor.Registry{}
	congestion, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		// No pacer, as the agent: forwarded keyframes are bursts either way, and a paced one
		// is a late one.
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(cfg.InitialBitrate),
			gcc.SendSideBWEMinBitrate(cfg.MinBitrate),
			gcc.SendSideBWEMaxBitrate(cfg.MaxBitrate),
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
		)
	})
	if err != nil {
		return nil, fmt.Errorf("sfu: congestion controller: %w", err)
	}
	congestion.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { a.created = e })
	// The estimator first: it must see the NACK responder's retransmissions too, and the
	// responder reads its target to limit them.
	reg.Add(congestion)
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
		return nil, fmt.Errorf("sfu: twcc: %w", err)
	}
	responder, err := nack.NewResponderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("sfu: nack responder: %w", err)
	}
	reg.Add(responder)
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, fmt.Errorf("sfu: rtcp reports: %w", err)
	}
	a.api = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(cfg.settingEngine()))
	return a, nil
}

// NewPeerConnection returns a viewer connection and its bandwidth estimator (give it to
// ViewerConfig.Estimator). The estimator lives as long as the connection.
func (a *ViewerAPI) NewPeerConnection(c webrtc.Configuration) (*webrtc.PeerConnection, cc.BandwidthEstimator, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.created = nil
	pc, err := a.api.NewPeerConnection(c)
	if err != nil {
		return nil, nil, fmt.Errorf("sfu: viewer connection: %w", err)
	}
	e := a.created
	a.created = nil
	if e == nil {
		return nil, nil, errors.Join(errors.New("sfu: viewer connection built without a bandwidth estimator"), pc.Close())
	}
	return pc, e, nil
}
