package netguard

import "github.com/prometheus/client_golang/prometheus"

// metrics are the guard's Prometheus series.
type metrics struct {
	refusals *prometheus.CounterVec
	failures *prometheus.CounterVec
	open     prometheus.GaugeFunc
	budget   prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, g *Guard) *metrics {
	m := &metrics{
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kvmrelay_connections_refused_total",
			Help: "TCP connections refused or closed by the connection guard, by listener and reason " +
				"(per_address, budget, evicted, first_byte_timeout, descriptors_exhausted).",
		}, []string{"listener", "reason"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kvmrelay_accept_errors_total",
			Help: "Failed accepts (EMFILE and the like), retried after a backoff, by listener.",
		}, []string{"listener"}),
		open: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kvmrelay_connections_open",
			Help: "TCP connections held by the guarded listeners (HTTP, TURN over TCP and TLS).",
		}, func() float64 { return float64(g.Open()) }),
		budget: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kvmrelay_connections_budget",
			Help: "How many TCP connections the guarded listeners may hold together (descriptor limit minus reserve).",
		}, func() float64 { return float64(g.cfg.Budget) }),
	}
	if reg != nil {
		reg.MustRegister(m.refusals, m.failures, m.open, m.budget)
	}
	return m
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	reg.Unregister(m.refusals)
	reg.Unregister(m.failures)
	reg.Unregister(m.open)
	reg.Unregister(m.budget)
}

func (m *metrics) refused(listener string, why refusal) {
	m.refusals.WithLabelValues(listener, string(why)).Inc()
}

func (m *metrics) acceptFailed(listener string) { m.failures.WithLabelValues(listener).Inc() }
