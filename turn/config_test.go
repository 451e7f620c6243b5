package turn

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRejectsBadConfig(t *testing.T) {
	base := func() Config {
		return Config{ListenAddr: "127.0.0.1:0", Secrets: [][]byte{testSecret}}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"no secrets", func(c *Config) { c.Secrets = nil }, ErrNoSecret},
		{"empty secret", func(c *Config) { c.Secrets = [][]byte{{}} }, ErrWeakSecret},
		{"short secret", func(c *Config) { c.Secrets = [][]byte{[]byte("short")} }, ErrWeakSecret},
		{"short second secret", func(c *Config) { c.Secrets = append(c.Secrets, []byte("x")) }, ErrWeakSecret},
		{"no public IP on a wildcard listener", func(c *Config) { c.ListenAddr = ":0" }, ErrNoPublicIP},
		{"host name", func(c *Config) { c.ListenAddr = "localhost:0" }, ErrConfig},
		{"no port", func(c *Config) { c.ListenAddr = "127.0.0.1" }, ErrConfig},
		{"half a port range", func(c *Config) { c.RelayPortMin = 50000 }, ErrConfig},
		{"inverted port range", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 50010, 50000 }, ErrConfig},
		{"negative quota", func(c *Config) { c.QuotaTotal = -1 }, ErrConfig},
		{"negative bandwidth", func(c *Config) { c.MaxBitsPerSecond = -1 }, ErrConfig},
		{"invalid allow prefix", func(c *Config) { c.AllowPeers = []netip.Prefix{{}} }, ErrConfig},
		{"unspecified public IP", func(c *Config) { c.PublicIP = netip.IPv4Unspecified() }, ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mod(&cfg)
			s, err := New(cfg)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, s)
		})
	}
}

func TestNewListenErrorIsWrapped(t *testing.T) {
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	reg := prometheus.NewRegistry()
	_, err = New(Config{ListenAddr: busy.LocalAddr().String(), Secrets: [][]byte{testSecret}, Registerer: reg})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listen on")

	// A failed New leaves the registry free for the next one.
	s, err := New(Config{ListenAddr: "127.0.0.1:0", Secrets: [][]byte{testSecret}, Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestMetricsRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{ListenAddr: "127.0.0.1:0", Secrets: [][]byte{testSecret}, Registerer: reg})
	require.NoError(t, err)
	_, err = New(Config{ListenAddr: "127.0.0.1:0", Secrets: [][]byte{testSecret}, Registerer: reg})
	require.Error(t, err, "one Server per registry")

	families, err := reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	assert.Subset(t, names, []string{
		"kvmrelay_turn_allocations_active", "kvmrelay_turn_allocations_total",
		"kvmrelay_turn_relayed_bytes_total", "kvmrelay_turn_relayed_packets_total",
		"kvmrelay_turn_throttled_bytes_total", "kvmrelay_turn_refusals_total",
	})
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice")

	s, err = New(Config{ListenAddr: "127.0.0.1:0", Secrets: [][]byte{testSecret}, Registerer: reg})
	require.NoError(t, err, "a closed Server frees its registry")
	require.NoError(t, s.Close())
}

func TestListenSamePortUDPAndTCP(t *testing.T) {
	ts := startServer(t, nil)
	assert.Equal(t, ts.UDPAddr().(*net.UDPAddr).Port, ts.TCPAddr().(*net.TCPAddr).Port)
	assert.Equal(t, "127.0.0.1", ts.cfg.PublicIP.String(), "PublicIP defaults to a specific listen IP")
}

func TestRelayPortRange(t *testing.T) {
	// Find three free consecutive-ish ports by asking for a range the kernel is unlikely to
	// use, then check that relays land inside it.
	const lo, hi = 42100, 42103
	ts := startServer(t, func(c *Config) { c.RelayPortMin, c.RelayPortMax = lo, hi })
	u, p := ts.creds("alice", time.Minute)
	for range 2 {
		relay, err := newPionClient(t, ts, "udp", u, p).Allocate()
		require.NoError(t, err)
		port := relay.LocalAddr().(*net.UDPAddr).Port
		assert.True(t, port >= lo && port <= hi, "relay port %d in range", port)
		defer relay.Close()
	}
}
