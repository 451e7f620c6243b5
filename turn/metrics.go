package turn

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values.
const (
	dirToPeer   = "to_peer"   // client → relay → peer
	dirFromPeer = "from_peer" // peer → relay → client

	transportUDP = "udp"
	transportTCP = "tcp"

	refusedAuth   = "auth"
	refusedPolicy = "policy"
	refusedQuota  = "quota"
	refusedProto  = "protocol" // malformed or not allowed on this transport
)

// metrics of one Server. They exist even when not registered, so the code never checks.
type metrics struct {
	active    *prometheus.GaugeVec   // transport
	total     *prometheus.CounterVec // transport
	bytes     *prometheus.CounterVec // transport, direction
	packets   *prometheus.CounterVec // transport, direction
	throttled *prometheus.CounterVec // transport, direction: bytes dropped (UDP) or delayed (TCP)
	refusals  *prometheus.CounterVec // reason
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "kvmrelay", "turn"
	m := &metrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "allocations_active",
			Help: "TURN allocations currently open, by relay transport.",
		}, []string{"transport"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "allocations_total",
			Help: "TURN allocations made, by relay transport.",
		}, []string{"transport"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "relayed_bytes_total",
			Help: "Payload bytes relayed, by relay transport and direction (to_peer, from_peer).",
		}, []string{"transport", "direction"}),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "relayed_packets_total",
			Help: "Datagrams (UDP) or reads/writes (TCP) relayed, by relay transport and direction.",
		}, []string{"transport", "direction"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "throttled_bytes_total",
			Help: "Bytes over an allocation's bandwidth cap: dropped (UDP) or delayed (TCP).",
		}, []string{"transport", "direction"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "refusals_total",
			Help: "Requests or packets refused, by reason (auth, policy, quota, protocol).",
		}, []string{"reason"}),
	}
	// Pre-create the series so dashboards see zeros, not gaps.
	for _, t := range []string{transportUDP, transportTCP} {
		m.active.WithLabelValues(t)
		m.total.WithLabelValues(t)
		for _, d := range []string{dirToPeer, dirFromPeer} {
			m.bytes.WithLabelValues(t, d)
			m.packets.WithLabelValues(t, d)
			m.throttled.WithLabelValues(t, d)
		}
	}
	for _, r := range []string{refusedAuth, refusedPolicy, refusedQuota, refusedProto} {
		m.refusals.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.active, m.total, m.bytes, m.packets, m.throttled, m.refusals} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				return nil, fmt.Errorf("turn: metrics already registered (one Server per registry): %w", err)
			}
			return nil, fmt.Errorf("turn: register metrics: %w", err)
		}
	}
	return m, nil
}

// unregister lets a closed Server's registry take a new Server.
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{m.active, m.total, m.bytes, m.packets, m.throttled, m.refusals} {
		reg.Unregister(c)
	}
}

// flow holds the counters of one relay transport, resolved once per allocation so the
// per-packet path does no label lookups.
type flow struct {
	bytesTo, bytesFrom         prometheus.Counter
	packetsTo, packetsFrom     prometheus.Counter
	throttledTo, throttledFrom prometheus.Counter
}

func (m *metrics) flow(transport string) flow {
	return flow{
		bytesTo:       m.bytes.WithLabelValues(transport, dirToPeer),
		bytesFrom:     m.bytes.WithLabelValues(transport, dirFromPeer),
		packetsTo:     m.packets.WithLabelValues(transport, dirToPeer),
		packetsFrom:   m.packets.WithLabelValues(transport, dirFromPeer),
		throttledTo:   m.throttled.WithLabelValues(transport, dirToPeer),
		throttledFrom: m.throttled.WithLabelValues(transport, dirFromPeer),
	}
}

func (m *metrics) refuse(reason string) { m.refusals.WithLabelValues(reason).Inc() }
