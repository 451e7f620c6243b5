package fanout

import "github.com/prometheus/client_golang/prometheus"

// Metrics count the hub's uplinks and the holders of their streams.
type Metrics struct {
	// Uplinks is the number of connected uplinks (streams the relay receives from agents);
	// across nodes, one per machine for the whole deployment.
	Uplinks prometheus.Gauge
	// Holders is the number of acquisitions of those streams (relayed viewers, recordings).
	Holders prometheus.Gauge
	// UplinkStarts counts uplink sessions asked of agents, restarts included.
	UplinkStarts prometheus.Counter
	// NodeLinks is the number of connected node links (streams this node receives from the
	// node holding them rather than from their agents).
	NodeLinks prometheus.Gauge
	// NodeLinkStarts counts node links asked of holding nodes, restarts included.
	NodeLinkStarts prometheus.Counter
	// Viewers is the number of relayed viewers' connections (consoles whose video the relay
	// sends).
	Viewers prometheus.Gauge
}

// NewMetrics makes the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Uplinks: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmrelay_fanout_uplinks", Help: "Device video streams the relay receives (connected uplinks).",
		}),
		Holders: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmrelay_fanout_holders", Help: "Holders of relayed device streams (relayed viewers, recordings).",
		}),
		UplinkStarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kvmrelay_fanout_uplink_starts_total", Help: "Uplink sessions asked of agents, restarts included.",
		}),
		NodeLinks: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmrelay_fanout_node_links", Help: "Device video streams the relay receives from the relay node holding them (connected node links).",
		}),
		NodeLinkStarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kvmrelay_fanout_node_link_starts_total", Help: "Node links asked of the relay nodes holding device streams, restarts included.",
		}),
		Viewers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmrelay_fanout_viewers", Help: "Relayed viewers' video connections (consoles whose video the relay sends).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Uplinks, m.Holders, m.UplinkStarts, m.NodeLinks, m.NodeLinkStarts, m.Viewers)
	}
	return m
}
