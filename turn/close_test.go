package turn

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestCloseEndsEverything closes the server under live UDP and TCP allocations and an
// RFC 6062 peer data connection: Close returns only when the goroutines serving them have
// stopped, and nothing of the server is left behind.
func TestCloseEndsEverything(t *testing.T) {
	before := goleak.IgnoreCurrent()
	echo := startTCPEcho(t)
	udpEcho := startUDPEcho(t)
	ts := startServer(t, func(c *Config) { c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	u, p := ts.creds("alice", time.Minute)

	udpClient := newPionClient(t, ts, "udp", u, p)
	relay, err := udpClient.Allocate()
	require.NoError(t, err)
	_, err = relay.WriteTo(make([]byte, 100), udpAddr(udpEcho.addr()))
	require.NoError(t, err)

	tcpClient := newPionClient(t, ts, "tcp", u, p)
	alloc, err := tcpClient.AllocateTCP()
	require.NoError(t, err)
	conn, err := alloc.Dial("tcp4", echo.String())
	require.NoError(t, err)

	raw := dialRaw(t, ts, "tcp", u, p) // a control connection with nothing granted yet
	_ = raw

	require.NoError(t, ts.Close())

	// The clients notice and stop too.
	_ = conn.Close()
	_ = alloc.Close()
	_ = relay.Close()
	udpClient.close()
	tcpClient.close()
	_ = raw.conn.Close()
	goleak.VerifyNone(t, before, goleak.IgnoreAnyFunction("github.com/kvmrelay/kvmrelay/turn.listenUDPEcho.func1"),
		goleak.IgnoreAnyFunction("github.com/kvmrelay/kvmrelay/turn.startTCPEcho.func1"),
		goleak.IgnoreAnyFunction("github.com/kvmrelay/kvmrelay/turn.startTCPEcho.func1.1"))
}

// TestCloseEndsTLS: Close also ends TLS connections, an allocation's and one still in its
// handshake (a client that connected and never spoke).
func TestCloseEndsTLS(t *testing.T) {
	before := goleak.IgnoreCurrent()
	cert := newTestCert(t)
	ts := startTLSServer(t, cert, nil)
	u, p := ts.creds("alice", time.Minute)
	c := newTLSPionClient(t, ts, cert, u, p)
	relay, err := c.Allocate()
	require.NoError(t, err)
	silent, err := net.Dial("tcp", ts.TLSAddr().String())
	require.NoError(t, err)
	defer silent.Close()
	// The silent connection is accepted and its handshake read is pending once this returns.
	require.Eventually(t, func() bool { return ts.tls.count() == 2 }, 5*time.Second, time.Millisecond)

	require.NoError(t, ts.Close())
	_ = relay.Close()
	c.close()
	goleak.VerifyNone(t, before)
}
