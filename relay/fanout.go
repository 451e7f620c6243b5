package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kvmrelay/kvmrelay/relay/fanout"
	"github.com/kvmrelay/kvmrelay/sfu"
	"github.com/kvmrelay/kvmrelay/signaling"
)

// newFanout builds the hub that receives devices' video once on this node for relayed viewers
// (and recordings). Its uplinks gather host candidates on the relay's interfaces (the relay
// is reachable: agents dial it), loopback too when the relay listens on loopback (a demo, the
// tests), and use the relay's own TURN like any peer.
// The relayed viewers' connections (fanout.Viewers) gather and use ICE as the uplinks do.
func newFanout(listen string, sig *signaling.Server, ice signaling.ICEProvider, reg prometheus.Registerer, log *slog.Logger) (*fanout.Hub, *fanout.Viewers, error) {
	api := sfu.APIConfig{Settings: func(se *webrtc.SettingEngine) {
		se.SetIncludeLoopbackCandidate(listensOnLoopback(listen))
	}}
	metrics := fanout.NewMetrics(reg)
	var servers func(user string) []webrtc.ICEServer
	if ice != nil {
		servers = func(user string) []webrtc.ICEServer {
			var out []webrtc.ICEServer
			for _, s := range ice.ICEServers(user) {
				out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
			}
			return out
		}
	}
	hub, err := fanout.New(fanout.Config{Uplinks: sig, Links: sig, API: api, ICEServers: servers, Logger: log, Metrics: metrics})
	if err != nil {
		return nil, nil, err
	}
	viewers, err := fanout.NewViewers(fanout.ViewersConfig{Hub: hub, API: api, ICEServers: servers, Logger: log, Metrics: metrics})
	if err != nil {
		hub.Close()
		return nil, nil, err
	}
	return hub, viewers, nil
}

// lateViewers hands signaling the relayed viewers, which are built after it (their hub starts
// uplinks through signaling); until then no console's video is relayed.
type lateViewers struct {
	v atomic.Pointer[fanout.Viewers]
}

// StartViewer implements signaling.VideoRelay.
func (l *lateViewers) StartViewer(ctx context.Context, v signaling.RelayedViewer, send signaling.ViewerSend) (signaling.ViewerPeer, error) {
	vs := l.v.Load()
	if vs == nil {
		return nil, errors.New("relay: relayed viewers not started")
	}
	return vs.StartViewer(ctx, v, send)
}

// Decodes implements signaling.VideoRelay.
func (l *lateViewers) Decodes(codecs []string) bool {
	vs := l.v.Load()
	return vs != nil && vs.Decodes(codecs)
}

// listensOnLoopback reports whether the relay's listen address is a loopback one.
func listensOnLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Fanout is the node's hub of relayed device streams: Acquire a machine's forwarder to add
// relayed viewers or a recording to it.
func (r *Relay) Fanout() *fanout.Hub { return r.fanout }
