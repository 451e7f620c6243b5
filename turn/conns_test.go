package turn

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/netguard"
)

// A TCP connection that holds an allocation is authenticated: a flood of idle connections
// that fills the descriptor budget evicts the idle ones, never it (SECURITY.md item 16).
func TestTCPAllocationSurvivesAFlood(t *testing.T) {
	reg := prometheus.NewRegistry()
	guard, err := netguard.New(netguard.Config{Budget: 4, MaxPerAddress: -1, FirstByteTimeout: time.Hour, Registerer: reg})
	require.NoError(t, err)
	t.Cleanup(guard.Close)
	ts := startServer(t, func(c *Config) { c.Conns = guard })

	user, pass := ts.creds("s_flood", time.Hour)
	c := dialRaw(t, ts, "tcp", user, pass)
	res := c.allocate(protoUDPByte)
	require.Equal(t, stun.ClassSuccessResponse, res.Type.Class, "allocate: %v", res)

	for range 12 {
		// Each says a little (the start of a STUN header) and never authenticates: they are
		// newer than the allocation's connection, and as unproven as it would be untrusted.
		idle, err := net.Dial("tcp", ts.TCPAddr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = idle.Close() })
		_, err = idle.Write([]byte{0x00, 0x01, 0x00, 0x00})
		require.NoError(t, err)
		time.Sleep(5 * time.Millisecond) // let the guard see the bytes before the next arrives
	}
	require.Eventually(t, func() bool { return refusedBy(t, reg, "turn-tcp", "evicted") >= 9 }, 5*time.Second, 10*time.Millisecond,
		"the idle connections past the budget are evicted")

	refresh := c.do(stun.MethodRefresh, rawAttr{stun.AttrLifetime, []byte{0, 0, 2, 88}})
	assert.Equal(t, stun.ClassSuccessResponse, refresh.Type.Class, "the allocation's connection still works: %v", refresh)
	assert.LessOrEqual(t, guard.Open(), 4)
}

// refusedBy reads kvmrelay_connections_refused_total{listener,reason} from reg.
func refusedBy(t *testing.T, reg *prometheus.Registry, listener, reason string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "kvmrelay_connections_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["listener"] == listener && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
