package turn

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The virtual WAN of these tests, shaped like the e2e tests' (e2e/vnet_test.go): the TURN
// server on 5.0.0.10, a client, an allowed peer and a peer the operator denies. Nothing here
// touches a real socket.
var vnetWAN = netip.MustParsePrefix("5.0.0.0/24")

const (
	vnetTURNIP   = "5.0.0.10"
	vnetClientIP = "5.0.0.2"
	vnetPeerIP   = "5.0.0.3"
	vnetDeniedIP = "5.0.0.4"
	vnetPeerPort = 7000
)

type vnetWorld struct {
	wan                        *vnet.Router
	turn, client, peer, denied *vnet.Net
}

func newVNetWorld(t *testing.T) *vnetWorld {
	t.Helper()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: vnetWAN.String(), LoggerFactory: lf})
	require.NoError(t, err)
	host := func(ip string) *vnet.Net {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(n))
		return n
	}
	w := &vnetWorld{wan: wan, turn: host(vnetTURNIP), client: host(vnetClientIP), peer: host(vnetPeerIP),
		denied: host(vnetDeniedIP)}
	require.NoError(t, wan.Start())
	t.Cleanup(func() { require.NoError(t, wan.Stop()) })
	return w
}

// vnetEcho answers every datagram on n at ip:vnetPeerPort and counts them.
type vnetEcho struct {
	conn net.PacketConn
	got  atomic.Int64
	wg   sync.WaitGroup
}

func startVNetEcho(t *testing.T, n *vnet.Net, ip string) *vnetEcho {
	t.Helper()
	conn, err := n.ListenPacket("udp4", net.JoinHostPort(ip, "7000"))
	require.NoError(t, err)
	e := &vnetEcho{conn: conn}
	e.wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			e.got.Add(1)
			_, _ = conn.WriteTo(buf[:n], from)
		}
	})
	t.Cleanup(func() { _ = conn.Close(); e.wg.Wait() })
	return e
}

// startVNetServer starts the server as the e2e tests configure it, on w's TURN host.
func startVNetServer(t *testing.T, w *vnetWorld, mod func(*Config)) *testServer {
	t.Helper()
	eg := &egressLog{}
	reg := prometheus.NewRegistry()
	cfg := Config{
		ListenAddr: vnetTURNIP + ":3478",
		PublicIP:   netip.MustParseAddr(vnetTURNIP),
		Realm:      testRealm,
		Secrets:    [][]byte{testSecret},
		AllowPeers: []netip.Prefix{vnetWAN},
		Net:        w.turn,
		Registerer: reg,
	}
	// The test network rule, for the virtual network: the virtual WAN only.
	cfg.hooks.egress = func(p netip.AddrPort) error {
		_ = eg.hook(p) // records
		if !vnetWAN.Contains(p.Addr()) {
			return errTestEgress
		}
		return nil
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return &testServer{Server: s, egress: eg, reg: reg}
}

// newVNetPionClient is pion's TURN client on the client host of w.
func newVNetPionClient(t *testing.T, w *vnetWorld, ts *testServer, username, password string) *pionClient {
	t.Helper()
	conn, err := w.client.ListenPacket("udp4", vnetClientIP+":0")
	require.NoError(t, err)
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	server := ts.UDPAddr().String()
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn, Net: w.client,
		Username: username, Password: password, Realm: testRealm,
		LoggerFactory: lf, RTO: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, c.Listen())
	pc := &pionClient{Client: c, conn: conn}
	t.Cleanup(pc.close)
	return pc
}

// TestVNetRelay runs the server on pion's virtual network with the e2e tests' config: a pion
// client on another virtual host allocates (the relayed address is the virtual public IP),
// relays to a virtual peer allowed by AllowPeers and reads its echo; a denied peer and
// special-purpose addresses are refused with 403 and never reached.
func TestVNetRelay(t *testing.T) {
	w := newVNetWorld(t)
	echo := startVNetEcho(t, w.peer, vnetPeerIP)
	denied := startVNetEcho(t, w.denied, vnetDeniedIP)
	ts := startVNetServer(t, w, func(c *Config) {
		c.DenyPeers = []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr(vnetDeniedIP), 32)}
	})
	assert.Equal(t, vnetTURNIP+":3478", ts.UDPAddr().String())
	assert.Nil(t, ts.TCPAddr(), "vnet has no TCP: UDP only")

	servers := ts.ICEServers("console-v", time.Minute)
	require.Len(t, servers, 2)
	assert.Equal(t, []string{"turn:" + vnetTURNIP + ":3478?transport=udp"}, servers[1].URLs, "no TCP entry")

	c := newVNetPionClient(t, w, ts, servers[1].Username, servers[1].Credential)
	mapped, err := c.SendBindingRequest()
	require.NoError(t, err)
	assert.Equal(t, vnetClientIP, mapped.(*net.UDPAddr).IP.String(), "STUN binding on the vnet")

	relay, err := c.Allocate()
	require.NoError(t, err)
	defer relay.Close()
	assert.Equal(t, vnetTURNIP, relay.LocalAddr().(*net.UDPAddr).IP.String())

	peer := &net.UDPAddr{IP: net.ParseIP(vnetPeerIP), Port: vnetPeerPort}
	buf := make([]byte, 1500)
	for i := range 10 {
		msg := append([]byte{byte(i)}, "over the virtual wire"...)
		_, err := relay.WriteTo(msg, peer)
		require.NoError(t, err)
		require.NoError(t, relay.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, from, err := relay.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, peer.String(), from.String())
		assert.True(t, bytes.Equal(msg, buf[:n]))
	}
	assert.Equal(t, int64(10), echo.got.Load())

	for _, refused := range []string{vnetDeniedIP, "10.0.0.1", "127.0.0.1", "169.254.169.254"} {
		_, err := relay.WriteTo([]byte("knock knock knock"), &net.UDPAddr{IP: net.ParseIP(refused), Port: vnetPeerPort})
		require.Error(t, err, refused)
		assert.Equal(t, 403, turnCode(err), "%s: %v", refused, err)
	}
	assert.Zero(t, denied.got.Load(), "the denied peer heard nothing")
	for _, p := range ts.egress.all() {
		assert.Equal(t, netip.MustParseAddr(vnetPeerIP), p.Addr(), "relay sockets reached only the allowed peer")
	}
	assert.Equal(t, float64(4), ts.refusals(t, refusedPolicy))
	assert.Eventually(t, func() bool { return ts.relayedTo(t) == 10 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, float64(10), counter(t, ts.metrics.packets.WithLabelValues(transportUDP, dirFromPeer)))
}

// TestVNetNoRealSockets: with Net set, neither New nor an allocation nor Close opens a socket
// of the process (counted in /proc/self/fd; Linux only).
func TestVNetNoRealSockets(t *testing.T) {
	before, ok := socketFDs(t)
	if !ok {
		t.Skip("no /proc/self/fd")
	}
	w := newVNetWorld(t)
	ts := startVNetServer(t, w, func(c *Config) { c.ListenAddr = vnetTURNIP + ":0" })
	assert.NotZero(t, ts.UDPAddr().(*net.UDPAddr).Port, "a virtual port was picked")
	u, p := ts.creds("console-fd", time.Minute)
	relay, err := newVNetPionClient(t, w, ts, u, p).Allocate()
	require.NoError(t, err)
	during, _ := socketFDs(t)
	require.NoError(t, relay.Close())
	assert.Equal(t, before, during, "no real socket opened")
}

// socketFDs counts the process's open sockets.
func socketFDs(t *testing.T) (int, bool) {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n, true
}

// TestVNetTCPAllocationRefused: there is no TCP on vnet, so a TCP allocation is refused
// whatever way it is asked for; the guard answers it over UDP.
func TestVNetTCPAllocationRefused(t *testing.T) {
	w := newVNetWorld(t)
	ts := startVNetServer(t, w, nil)
	u, p := ts.creds("console-t", time.Minute)
	c := newVNetPionClient(t, w, ts, u, p)
	_, err := c.AllocateTCP()
	require.Error(t, err)
	assert.Equal(t, 400, turnCode(err), "%v", err)
}

// TestVNetTLSNeedsTCP: TLS was asked for explicitly, and vnet has no TCP: New says so.
func TestVNetTLSNeedsTCP(t *testing.T) {
	w := newVNetWorld(t)
	cert := newTestCert(t)
	s, err := New(Config{
		ListenAddr: vnetTURNIP + ":3478", Secrets: [][]byte{testSecret}, Net: w.turn,
		TLSListenAddr: vnetTURNIP + ":5349", TLSCert: cert.certFile, TLSKey: cert.keyFile,
	})
	require.ErrorIs(t, err, ErrConfig)
	assert.Nil(t, s)

	// Nothing of it stayed open: the port is free again.
	ts := startVNetServer(t, w, nil)
	assert.Equal(t, vnetTURNIP+":3478", ts.UDPAddr().String())
}
