package fanout

import "github.com/prometheus/client_golang/prometheus"

// Metrics count the hub's uplinks and the holders of their streams.
type Metrics struct {
	// Uplinks is the number of connected uplinks (streams the relay receives from agents).
	Uplinks prometheus.Gauge
	// Holders is the number of acquisitions of those streams (relayed viewers, recordings).
	Holders prometheus.Gauge
	// UplinkStarts counts uplink sessions asked of agents, restarts included.
	UplinkStarts prometheus.Counter
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
		Viewers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmrelay_fanout_viewers", Help: "Relayed viewers' video connections (consoles whose video the relay sends).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Uplinks, m.Holders, m.UplinkStarts, m.Viewers)
	}
	return m
}
