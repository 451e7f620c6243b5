package signaling

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the signaling counters exported on /metrics.
type Metrics struct {
	Messages       *prometheus.CounterVec // by peer (console|agent), type, result
	Connections    *prometheus.GaugeVec   // open WebSockets by peer
	Sessions       prometheus.Gauge       // console sessions with a live console WebSocket
	Refused        *prometheus.CounterVec // upgrades refused by reason
	AgentsOnline   prometheus.Gauge
	SessionsOpened prometheus.Counter
	BudgetRefused  *prometheus.CounterVec // messages refused over a budget, by budget (budget.go, reportbudget.go)
}

// NewMetrics makes the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kvmrelay_signaling_messages_total",
			Help: "Signaling messages received, by peer kind, message type and outcome.",
		}, []string{"peer", "type", "result"}),
		Connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kvmrelay_signaling_connections",
			Help: "Open signaling WebSockets by peer kind.",
		}, []string{"peer"}),
		Sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmrelay_console_sessions",
			Help: "Console sessions with a connected console on this node.",
		}),
		SessionsOpened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kvmrelay_console_sessions_opened_total",
			Help: "Console signaling connections accepted.",
		}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kvmrelay_signaling_refused_total",
			Help: "WebSocket upgrades refused, by reason.",
		}, []string{"peer", "reason"}),
		AgentsOnline: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmrelay_agents_connected",
			Help: "Agents connected to this node.",
		}),
		BudgetRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kvmrelay_signaling_budget_refused_total",
			Help: "Console signaling messages refused for going over a budget (rate, candidates, answers, joins, management, control), dropped before a full agent outbox (agent-outbox), or agent audit reports dropped over their budget (agent-reports).",
		}, []string{"budget"}),
	}
	if reg != nil {
		reg.MustRegister(m.Messages, m.Connections, m.Sessions, m.SessionsOpened, m.Refused, m.AgentsOnline, m.BudgetRefused)
	}
	return m
}
