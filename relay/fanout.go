package relay

import (
	"log/slog"
	"net"

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
func newFanout(listen string, sig *signaling.Server, ice signaling.ICEProvider, reg prometheus.Registerer, log *slog.Logger) (*fanout.Hub, error) {
	cfg := fanout.Config{
		Uplinks: sig,
		API: sfu.APIConfig{Settings: func(se *webrtc.SettingEngine) {
			se.SetIncludeLoopbackCandidate(listensOnLoopback(listen))
		}},
		Logger:  log,
		Metrics: fanout.NewMetrics(reg),
	}
	if ice != nil {
		cfg.ICEServers = func(user string) []webrtc.ICEServer {
			var out []webrtc.ICEServer
			for _, s := range ice.ICEServers(user) {
				out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
			}
			return out
		}
	}
	return fanout.New(cfg)
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
