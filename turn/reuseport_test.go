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

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// socketLog records which listener socket served which client address.
type socketLog struct {
	mu   sync.Mutex
	byIP map[netip.Addr]map[int]int // client IP → socket → frames
}

func (l *socketLog) hook(socket int, from net.Addr) {
	ap, _ := addrPortOf(from)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP == nil {
		l.byIP = map[netip.Addr]map[int]int{}
	}
	if l.byIP[ap.Addr()] == nil {
		l.byIP[ap.Addr()] = map[int]int{}
	}
	l.byIP[ap.Addr()][socket]++
}

// sockets returns the sockets each client IP reached, and every socket reached.
func (l *socketLog) sockets() (perIP map[netip.Addr][]int, all map[int]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	perIP, all = map[netip.Addr][]int{}, map[int]bool{}
	for ip, m := range l.byIP {
		for s := range m {
			perIP[ip] = append(perIP[ip], s)
			all[s] = true
		}
	}
	return perIP, all
}

// newPionClientFrom is pion's client over UDP from localIP (any 127/8 address is loopback).
func newPionClientFrom(t *testing.T, ts *testServer, localIP, username, password string) *pionClient {
	t.Helper()
	conn, err := net.ListenPacket("udp4", localIP+":0")
	require.NoError(t, err)
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	addr := ts.UDPAddr().String()
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, Realm: testRealm,
		LoggerFactory: lf, RTO: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, c.Listen())
	pc := &pionClient{Client: c, conn: conn}
	t.Cleanup(pc.close)
	return pc
}

// TestUDPSocketsSharePort: with UDPSockets 4, four guarded sockets share one port with TCP;
// clients on different hosts (127.0.0.1–16) spread over more than one of them, the sockets
// of one host always meet the same one, and every relayed datagram comes back.
func TestUDPSocketsSharePort(t *testing.T) {
	if !reusePortSupported {
		t.Skip("no SO_REUSEPORT steering on this OS")
	}
	echo := startUDPEcho(t)
	var log socketLog
	ts := startServer(t, func(c *Config) {
		c.UDPSockets = 4
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.hooks.udpRead = log.hook
	})
	require.Len(t, ts.udp, 4)
	port := ts.UDPAddr().(*net.UDPAddr).Port
	for _, g := range ts.udp {
		assert.Equal(t, port, g.LocalAddr().(*net.UDPAddr).Port)
	}
	assert.Equal(t, port, ts.TCPAddr().(*net.TCPAddr).Port)

	// 16 hosts, two client sockets each. The chance that a fair hash puts all hosts on one
	// of 4 sockets is 4·4⁻¹⁶ ≈ 10⁻⁹.
	const hosts = 16
	buf := make([]byte, 1500)
	for i := range 2 * hosts {
		ip := "127.0.0." + strconv.Itoa(1+i%hosts)
		u, p := ts.creds("console-"+strconv.Itoa(i), time.Minute)
		relay, err := newPionClientFrom(t, ts, ip, u, p).Allocate()
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
	perIP, all := log.sockets()
	assert.Len(t, perIP, hosts)
	for ip, socks := range perIP {
		assert.Len(t, socks, 1, "all of %s's sockets meet one listener socket", ip)
	}
	assert.Greater(t, len(all), 1, "hosts spread over several sockets: %v", perIP)
	t.Logf("listener sockets per client host: %v", perIP)
	assert.Equal(t, float64(2*hosts), counter(t, ts.metrics.total.WithLabelValues(transportUDP)))
}

// evenPortAttr is EVEN-PORT with the R bit: reserve the next port too (RFC 8656 §14.6).
var evenPortAttr = rawAttr{stun.AttrEvenPort, []byte{0x80}}

// TestUDPSocketsReservation: an RTP/RTCP pair of allocations (EVEN-PORT with R, then
// RESERVATION-TOKEN) made from two client ports succeeds with several listener sockets.
// pion looks the token up in the table of the socket serving the second Allocate, so a
// client whose ports were spread over sockets by 4-tuple would get 508.
func TestUDPSocketsReservation(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.UDPSockets, c.QuotaPerUser = 4, 100 })
	u, p := ts.creds("rtp-client", time.Minute)
	for i := range 8 {
		rtp := dialRaw(t, ts, "udp", u, p)
		res := rtp.do(stun.MethodAllocate, rawAttr{stun.AttrRequestedTransport, []byte{protoUDPByte, 0, 0, 0}},
			evenPortAttr)
		require.Zero(t, errorCode(res), "pair %d: EVEN-PORT allocation", i)
		token, err := res.Get(stun.AttrReservationToken)
		require.NoError(t, err, "a RESERVATION-TOKEN")
		var relayedRTP stun.XORMappedAddress
		require.NoError(t, relayedRTP.GetFromAs(res, stun.AttrXORRelayedAddress))
		assert.Zero(t, relayedRTP.Port%2, "even port")

		rtcp := dialRaw(t, ts, "udp", u, p)
		res = rtcp.do(stun.MethodAllocate, rawAttr{stun.AttrRequestedTransport, []byte{protoUDPByte, 0, 0, 0}},
			rawAttr{stun.AttrReservationToken, token})
		if code := errorCode(res); code == int(stun.CodeInsufficientCapacity) {
			// pion does not hold the reserved port: something else may have taken it.
			if ln, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(relayedRTP.Port+1)); err == nil {
				_ = ln.Close()
				t.Fatalf("pair %d: 508 although port %d is free", i, relayedRTP.Port+1)
			}
			continue
		}
		require.Zero(t, errorCode(res), "pair %d: RESERVATION-TOKEN allocation", i)
		var relayedRTCP stun.XORMappedAddress
		require.NoError(t, relayedRTCP.GetFromAs(res, stun.AttrXORRelayedAddress))
		assert.Equal(t, relayedRTP.Port+1, relayedRTCP.Port)
	}
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

func TestSteeringProgram(t *testing.T) {
	if !reusePortSupported {
		t.Skip("no SO_REUSEPORT steering on this OS")
	}
	for _, n := range []int{2, 4, maxUDPSockets} {
		prog, err := steeringProgram(n)
		require.NoError(t, err)
		assert.Len(t, prog, 10)
	}
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
