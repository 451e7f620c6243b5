package turn

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fastCount counts what the fast path relays, by direction.
type fastCount struct{ toPeer, fromPeer atomic.Int64 }

func (f *fastCount) hook(toPeer bool) {
	if toPeer {
		f.toPeer.Add(1)
	} else {
		f.fromPeer.Add(1)
	}
}

// fastServer starts a server relaying to 127.0.0.0/8 and counting its fast path.
func fastServer(t *testing.T, mod func(*Config)) (*testServer, *fastCount) {
	t.Helper()
	fc := &fastCount{}
	ts := startServer(t, func(c *Config) {
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.hooks.fastPath = fc.hook
		if mod != nil {
			mod(c)
		}
	})
	return ts, fc
}

// channelDataFrame builds a ChannelData frame, padded to 4 bytes as over TCP.
func channelDataFrame(num uint16, payload []byte) []byte {
	f := make([]byte, 4, 4+len(payload)+3)
	binary.BigEndian.PutUint16(f[0:2], num)
	binary.BigEndian.PutUint16(f[2:4], uint16(len(payload)))
	f = append(f, payload...)
	for len(f)%4 != 0 {
		f = append(f, 0)
	}
	return f
}

// readChannelData reads the next ChannelData frame a raw UDP client gets.
func (c *rawClient) readChannelData(deadline time.Time) (uint16, []byte, error) {
	buf := make([]byte, 2048)
	_ = c.conn.SetReadDeadline(deadline)
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			return 0, nil, err
		}
		if num, data, ok := channelData(buf[:n]); ok {
			return num, append([]byte(nil), data...), nil
		}
	}
}

// TestChannelDataFastPath: once a channel is bound, ChannelData goes both ways without pion
// — from the client to the peer through the listener's reader, and from the peer back as
// ChannelData, framed as pion frames it — and every datagram is counted. A Send indication
// and the Data indication back still go through pion; so does ChannelData on a channel that
// is not bound, which reaches no one.
func TestChannelDataFastPath(t *testing.T) {
	echo := startUDPEcho(t)
	ts, fc := fastServer(t, nil)
	user, pass := ts.creds("fast", time.Minute)
	c := dialRaw(t, ts, "udp", user, pass)
	require.Zero(t, errorCode(c.allocate(17)))

	// Before any channel: a Send indication, answered by a Data indication (pion's path).
	require.Zero(t, errorCode(c.do(stun.MethodCreatePermission, peerAttr(echo.addr()))))
	c.indicate(stun.MethodSend, peerAttr(echo.addr()), dataAttr([]byte("indication")))
	for {
		m, err := c.read(time.Now().Add(5 * time.Second))
		require.NoError(t, err)
		if m.Type == stun.NewType(stun.MethodData, stun.ClassIndication) {
			v, err := m.Get(stun.AttrData)
			require.NoError(t, err)
			assert.Equal(t, "indication", string(v))
			break
		}
	}
	assert.Zero(t, fc.toPeer.Load()+fc.fromPeer.Load(), "indications are pion's")

	// ChannelData on a channel not bound: pion's, and dropped.
	_, err := c.conn.Write(channelDataFrame(0x4001, []byte("nobody")))
	require.NoError(t, err)

	require.Zero(t, errorCode(c.do(stun.MethodChannelBind, channelAttr(0x4002), peerAttr(echo.addr()))))
	const n = 200
	for i := range n {
		payload := fmt.Appendf(nil, "datagram %d%s", i, bytes.Repeat([]byte{'x'}, i%5)) // every padding
		_, err := c.conn.Write(channelDataFrame(0x4002, payload))
		require.NoError(t, err)
		num, got, err := c.readChannelData(time.Now().Add(5 * time.Second))
		require.NoError(t, err)
		assert.Equal(t, uint16(0x4002), num)
		require.Equal(t, string(payload), string(got))
	}
	assert.Equal(t, 1+n, echo.count(), "the unbound channel reached no one")
	assert.Equal(t, int64(n), fc.toPeer.Load())
	if runtime.GOOS == "linux" {
		assert.Equal(t, int64(n), fc.fromPeer.Load())
	}
	assert.Eventually(t, func() bool { return ts.relayedTo(t) == 1+n }, 5*time.Second, time.Millisecond)
	assert.Equal(t, float64(1+n), counter(t, ts.metrics.packets.WithLabelValues(transportUDP, dirFromPeer)))
	assert.Empty(t, ts.egress.nonLoopback())
}

// TestFastPathConcurrentClients: many clients relaying through channels at once get every
// datagram back, intact, and the metrics count each one; when the allocations close, the
// fast path forgets them and the loops let go of their sockets.
func TestFastPathConcurrentClients(t *testing.T) {
	echo := startUDPEcho(t)
	ts, fc := fastServer(t, func(c *Config) { c.UDPSockets = 2 })
	const clients, each = 8, 150
	var wg sync.WaitGroup
	for i := range clients {
		user, pass := ts.creds(fmt.Sprintf("client%d", i), time.Minute)
		pc := newPionClient(t, ts, "udp", user, pass)
		wg.Go(func() {
			relay, err := pc.Allocate()
			if !assert.NoError(t, err) {
				return
			}
			defer relay.Close()
			buf := make([]byte, 1600)
			for k := range each {
				msg := fmt.Appendf(nil, "client %d datagram %d", i, k)
				if _, err := relay.WriteTo(msg, udpAddr(echo.addr())); !assert.NoError(t, err) {
					return
				}
				_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, from, err := relay.ReadFrom(buf)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, echo.addr().String(), from.String())
				assert.Equal(t, string(msg), string(buf[:n]))
			}
		})
	}
	wg.Wait()
	total := float64(clients * each)
	assert.Eventually(t, func() bool { return ts.relayedTo(t) == total }, 5*time.Second, time.Millisecond)
	assert.Equal(t, total, counter(t, ts.metrics.packets.WithLabelValues(transportUDP, dirFromPeer)))
	// pion's client sends its first datagrams as Send indications, then binds a channel.
	assert.Positive(t, fc.toPeer.Load())
	if runtime.GOOS == "linux" {
		assert.Positive(t, fc.fromPeer.Load())
	}

	// The allocations are gone (Refresh with lifetime 0 on relay.Close): so is the fast
	// path's view of them, and the loops' sockets.
	assert.Eventually(t, func() bool {
		n := 0
		ts.udpClients.Range(func(any, any) bool { n++; return true })
		return n == 0 && ts.loopSockets() == 0
	}, 5*time.Second, 10*time.Millisecond)
}

// loopSockets counts the relay sockets the loops hold.
func (ts *testServer) loopSockets() int {
	if ts.loops == nil {
		return 0
	}
	return ts.loops.sockets()
}

// TestFastPathPolicyStillApplies: the fast path relays only where pion bound a channel, and
// the relay socket's checks still decide: a peer without a permission is not heard from,
// and the bandwidth cap drops what is over it.
func TestFastPathPolicyStillApplies(t *testing.T) {
	echo := startUDPEcho(t)
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}) // permissions are by IP
	require.NoError(t, err)
	defer stranger.Close()
	clock := &fakeClock{t: time.Now()}
	ts, fc := fastServer(t, func(c *Config) {
		c.MaxBitsPerSecond = 8 * 32 << 10 // 32 KiB/s each way: a burst of 16 KiB
		c.hooks.now = clock.now
	})
	user, pass := ts.creds("capped", time.Minute)
	c := dialRaw(t, ts, "udp", user, pass)
	res := c.allocate(17)
	require.Zero(t, errorCode(res))
	var relayed stun.XORMappedAddress
	require.NoError(t, relayed.GetFromAs(res, stun.AttrXORRelayedAddress))
	require.Zero(t, errorCode(c.do(stun.MethodChannelBind, channelAttr(0x4000), peerAttr(echo.addr()))))

	// A stranger (no permission for its IP) sends to the relay address: nothing reaches the
	// client, in any form.
	relayAddr := &net.UDPAddr{IP: relayed.IP, Port: relayed.Port}
	_, err = stranger.WriteToUDP([]byte("unasked"), relayAddr)
	require.NoError(t, err)

	// 1000-byte datagrams: the burst lets 16 through each way, the rest is over the cap.
	payload := bytes.Repeat([]byte{7}, 1000)
	for range 40 {
		_, err := c.conn.Write(channelDataFrame(0x4000, payload))
		require.NoError(t, err)
	}
	got := 0
	rbuf := make([]byte, 2048)
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.conn.Read(rbuf)
		if err != nil {
			break
		}
		_, data, ok := channelData(rbuf[:n])
		require.True(t, ok, "only ChannelData from the echo, no Data indication from the stranger")
		require.Equal(t, payload, data)
		got++
	}
	assert.Equal(t, 16, echo.count(), "to the peer: the burst, then dropped")
	assert.Equal(t, 16, got)
	assert.Equal(t, int64(40), fc.toPeer.Load(), "the fast path took them all; the cap dropped some")
	assert.Equal(t, float64(16), ts.relayedTo(t))
	assert.Equal(t, float64(24*1000), counter(t, ts.metrics.throttled.WithLabelValues(transportUDP, dirToPeer)))
}

// TestChanSet: the channel mirror binds, rebinds and unbinds by number.
func TestChanSet(t *testing.T) {
	var cs chanSet
	p1, p2 := netip.MustParseAddrPort("127.0.0.1:1000"), netip.MustParseAddrPort("127.0.0.2:2000")
	_, ok := cs.byNumber(0x4000)
	assert.False(t, ok)
	cs.bind(channel{num: 0x4000, peer: p1}, true)
	cs.bind(channel{num: 0x4001, peer: p2}, true)
	ch, ok := cs.byNumber(0x4001)
	require.True(t, ok)
	assert.Equal(t, p2, ch.peer)
	ch, ok = cs.byPeer(p1)
	require.True(t, ok)
	assert.Equal(t, uint16(0x4000), ch.num)
	cs.bind(channel{num: 0x4000, peer: p1}, true) // a refresh: still one binding
	assert.Len(t, *cs.list.Load(), 2)
	cs.bind(channel{num: 0x4000}, false)
	_, ok = cs.byPeer(p1)
	assert.False(t, ok)
	_, ok = cs.byNumber(0x4001)
	assert.True(t, ok)
}

// pionChannelData is pion's reading of a datagram from a client as ChannelData
// (proto.IsChannelData, then ChannelData.Decode): the reference channelData must agree with.
func pionChannelData(b []byte) (uint16, []byte, bool) {
	if len(b) < 4 {
		return 0, nil, false
	}
	num := binary.BigEndian.Uint16(b[0:2])
	l := int(binary.BigEndian.Uint16(b[2:4]))
	if l > len(b[4:]) || num < 0x4000 || num > 0x7FFF {
		return 0, nil, false
	}
	data := b[4:]
	if l < len(data) {
		data = data[:l]
	}
	return num, data, true
}

// FuzzChannelData: the fast path takes a datagram as ChannelData exactly where pion would,
// with the same channel and payload, and frameChannelData frames what it parses back.
func FuzzChannelData(f *testing.F) {
	f.Add([]byte{0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0})
	f.Add([]byte{0x7f, 0xff, 0x00, 0x00})
	f.Add([]byte{0x80, 0x00, 0x00, 0x00})
	f.Add([]byte{0x3f, 0xff, 0x00, 0x01, 9})
	f.Add([]byte{0x40, 0x01, 0x00, 0x09, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		num, data, ok := channelData(b)
		wnum, wdata, wok := pionChannelData(b)
		require.Equal(t, wok, ok)
		if !ok {
			return
		}
		require.Equal(t, wnum, num)
		require.Equal(t, wdata, data)
		buf := make([]byte, chanHeader+len(data)+3)
		copy(buf[chanHeader:], data)
		frame := frameChannelData(buf, len(data), num)
		require.Zero(t, len(frame)%4)
		num2, data2, ok := channelData(frame)
		require.True(t, ok)
		require.Equal(t, num, num2)
		require.Equal(t, data, data2)
	})
}

// TestTCPClientLeavesLoop: the relay socket of a client over TCP leaves its relay loop (pion
// sends everything to such a client, so the loop would only hand it each datagram), and is
// read, checked and counted as before.
func TestTCPClientLeavesLoop(t *testing.T) {
	echo := startUDPEcho(t)
	ts, fc := fastServer(t, nil)
	user, pass := ts.creds("tcp", time.Minute)
	relay, err := newPionClient(t, ts, "tcp", user, pass).Allocate()
	require.NoError(t, err)
	defer relay.Close()
	assert.Zero(t, ts.loopSockets(), "out of the loop")

	// A stranger without a permission is not heard from.
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}) // permissions are by IP
	require.NoError(t, err)
	defer stranger.Close()
	_, err = stranger.WriteToUDP([]byte("unasked"), relay.LocalAddr().(*net.UDPAddr))
	require.NoError(t, err)

	buf := make([]byte, 1600)
	for i := range 30 {
		msg := fmt.Appendf(nil, "over tcp %d", i)
		_, err := relay.WriteTo(msg, udpAddr(echo.addr()))
		require.NoError(t, err)
		require.NoError(t, relay.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, from, err := relay.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, echo.addr().String(), from.String())
		assert.Equal(t, string(msg), string(buf[:n]))
	}
	assert.Eventually(t, func() bool { return ts.relayedTo(t) == 30 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, float64(30), counter(t, ts.metrics.packets.WithLabelValues(transportUDP, dirFromPeer)))
	assert.Zero(t, fc.toPeer.Load()+fc.fromPeer.Load(), "pion's path for a TCP client")
}

// TestFastPathDualStackListener: on a dual-stack listener (":0", an IPv6 socket) IPv4
// clients arrive IPv4-mapped; the fast path finds their allocations and sends back to them
// through the IPv6 socket, every datagram counted.
func TestFastPathDualStackListener(t *testing.T) {
	echo := startUDPEcho(t)
	ts, fc := fastServer(t, func(c *Config) {
		c.ListenAddr = ":0"
		c.PublicIP = netip.MustParseAddr("127.0.0.1")
		c.UDPSockets = 1
	})
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ts.UDPAddr().(*net.UDPAddr).Port))
	user, pass := ts.creds("dual", time.Minute)
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn, Username: user, Password: pass,
		Realm: testRealm, LoggerFactory: lf, RTO: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, c.Listen())
	defer func() { c.Close(); _ = conn.Close() }()
	relay, err := c.Allocate()
	require.NoError(t, err)
	defer relay.Close()

	buf := make([]byte, 1600)
	for i := range 50 {
		msg := fmt.Appendf(nil, "dual stack %d", i)
		_, err := relay.WriteTo(msg, udpAddr(echo.addr()))
		require.NoError(t, err)
		require.NoError(t, relay.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := relay.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, string(msg), string(buf[:n]))
	}
	assert.Positive(t, fc.toPeer.Load())
	if runtime.GOOS == "linux" {
		assert.Positive(t, fc.fromPeer.Load())
	}
	assert.Eventually(t, func() bool { return ts.relayedTo(t) == 50 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, float64(50), counter(t, ts.metrics.packets.WithLabelValues(transportUDP, dirFromPeer)))
}
