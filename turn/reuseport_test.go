package turn

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUDPSocketsSharePort: with UDPSockets 4, four guarded sockets share one port with TCP;
// clients from many source ports spread over more than one of them, each client stays on
// one, and every relayed datagram comes back.
func TestUDPSocketsSharePort(t *testing.T) {
	if !reusePortSupported {
		t.Skip("no SO_REUSEPORT on this OS")
	}
	echo := startUDPEcho(t)
	var mu sync.Mutex
	reads := map[int]int{}
	ts := startServer(t, func(c *Config) {
		c.UDPSockets = 4
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.hooks.udpRead = func(i int) { mu.Lock(); reads[i]++; mu.Unlock() }
	})
	require.Len(t, ts.udp, 4)
	port := ts.UDPAddr().(*net.UDPAddr).Port
	for _, g := range ts.udp {
		assert.Equal(t, port, g.LocalAddr().(*net.UDPAddr).Port)
	}
	assert.Equal(t, port, ts.TCPAddr().(*net.TCPAddr).Port)

	// 16 clients: the chance that the kernel's 4-tuple hash puts all on one of 4 sockets is
	// 4·4⁻¹⁶ ≈ 10⁻⁹.
	const clients = 16
	buf := make([]byte, 1500)
	for i := range clients {
		u, p := ts.creds("console-"+strconv.Itoa(i), time.Minute)
		relay, err := newPionClient(t, ts, "udp", u, p).Allocate()
		require.NoError(t, err)
		msg := []byte("spread me over the sockets " + strconv.Itoa(i))
		_, err = relay.WriteTo(msg, udpAddr(echo.addr()))
		require.NoError(t, err)
		require.NoError(t, relay.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := relay.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, msg, buf[:n])
		require.NoError(t, relay.Close())
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Greater(t, len(reads), 1, "clients spread over several sockets: %v", reads)
	t.Logf("frames passed to pion per socket: %v", reads)
	assert.Equal(t, float64(clients), counter(t, ts.metrics.total.WithLabelValues(transportUDP)))
}

// TestUDPSocketsRefuseSharedPort: a port already held by an SO_REUSEPORT socket of this
// process (as another TURN server of the same user would hold it) is refused, not silently
// shared.
func TestUDPSocketsRefuseSharedPort(t *testing.T) {
	if !reusePortSupported {
		t.Skip("no SO_REUSEPORT on this OS")
	}
	other, err := osSockets{}.listenPacket(context.Background(), "udp", "127.0.0.1:0", true)
	require.NoError(t, err)
	defer other.Close()
	_, err = New(Config{ListenAddr: other.LocalAddr().String(), Secrets: [][]byte{testSecret}, UDPSockets: 4})
	require.ErrorIs(t, err, syscall.EADDRINUSE)
}

func TestUDPSocketsConfig(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.UDPSockets = 1 })
	assert.Len(t, ts.udp, 1)

	ts = startServer(t, nil)
	want := 1
	if reusePortSupported {
		want = ts.cfg.UDPSockets
	}
	assert.Len(t, ts.udp, want, "default: one per CPU")
	assert.Positive(t, ts.cfg.UDPSockets)

	for _, n := range []int{-1, maxUDPSockets + 1} {
		_, err := New(Config{ListenAddr: "127.0.0.1:0", Secrets: [][]byte{testSecret}, UDPSockets: n})
		require.ErrorIs(t, err, ErrConfig, "UDPSockets %d", n)
	}

	w := newVNetWorld(t)
	vs := startVNetServer(t, w, func(c *Config) { c.UDPSockets = 4 })
	assert.Len(t, vs.udp, 1, "an injected Net gets one socket")
}
