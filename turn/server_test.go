package turn

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	protoUDPByte = 17
	protoTCPByte = 6
)

// deniedDB and deniedRedis stand for the relay's own database and Redis hosts: public
// addresses an operator adds to DenyPeers. The egress hook would stop any packet to them.
var (
	deniedDB    = netip.MustParsePrefix("8.8.8.8/32")
	deniedRedis = netip.MustParsePrefix("2001:4860:4860::8888/128")
)

func refusedPeerAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range append(append([]string{}, forbiddenPeers...), "8.8.8.8", "2001:4860:4860::8888",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::") {
		a := netip.MustParseAddr(s).WithZone("")
		out = append(out, netip.AddrPortFrom(a, 5432))
	}
	return out
}

// TestRefusedPeers drives every refused address form through real allocations, over UDP and
// over TCP, with CreatePermission, ChannelBind and Send (and Connect on a TCP allocation):
// each request is answered 403, each Send is dropped, and nothing is ever relayed.
func TestRefusedPeers(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.DenyPeers = []netip.Prefix{deniedDB, deniedRedis}
	})
	user, pass := ts.creds("console-1", time.Minute)
	peers := refusedPeerAddrs()

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			c := dialRaw(t, ts, network, user, pass)
			require.Zero(t, errorCode(c.allocate(protoUDPByte)), "allocate")
			for _, p := range peers {
				t.Run(p.Addr().String(), func(t *testing.T) {
					res := c.do(stun.MethodCreatePermission, peerAttr(p))
					assert.Equal(t, stun.CodeForbidden, stun.ErrorCode(errorCode(res)), "CreatePermission")
					assert.NoError(t, stun.MessageIntegrity(c.integrity).Check(res), "refusal is signed")

					res = c.do(stun.MethodChannelBind, channelAttr(0x4001), peerAttr(p))
					assert.Equal(t, stun.CodeForbidden, stun.ErrorCode(errorCode(res)), "ChannelBind")

					c.indicate(stun.MethodSend, peerAttr(p), dataAttr([]byte("hello")))
				})
			}
		})
	}
	t.Run("tcp-allocation-connect", func(t *testing.T) {
		c := dialRaw(t, ts, "tcp", user, pass)
		require.Zero(t, errorCode(c.allocate(protoTCPByte)), "allocate TCP")
		for _, p := range peers {
			res := c.do(stun.MethodConnect, peerAttr(p))
			assert.Equal(t, stun.CodeForbidden, stun.ErrorCode(errorCode(res)), "Connect %s", p)
		}
	})

	// A final round trip on each transport makes sure the Send indications were handled.
	for _, network := range []string{"udp", "tcp"} {
		c := dialRaw(t, ts, network, user, pass)
		c.do(stun.MethodBinding)
	}
	assert.Empty(t, ts.egress.all(), "no relay socket was ever asked to send anywhere")
	assert.Zero(t, ts.relayedTo(t), "nothing relayed")
	sends := float64(2 * len(peers))
	requests := float64(2*2*len(peers) + len(peers))
	// The round trips above ran on new connections: a Send indication on the old TCP
	// connection, handled by its own goroutine, may be counted a moment later (CI once saw
	// 538 of 539). Wait for the count, then require exactly it.
	require.Eventually(t, func() bool { return ts.refusals(t, refusedPolicy) >= requests+sends }, 5*time.Second, 10*time.Millisecond,
		"every refusal counted (%v of %v)", ts.refusals(t, refusedPolicy), requests+sends)
	assert.Equal(t, requests+sends, ts.refusals(t, refusedPolicy), "every refusal counted, and no more")
}

// TestPionHooksAloneRefuse takes the guard away: pion's PermissionHandler, fed by the same
// policy, must still refuse, and the relay sockets must not send. It also pins down pion's
// own answers (ChannelBind refusals come back as 401, other-family peers as 443), which is
// why the guard answers first.
func TestPionHooksAloneRefuse(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.DenyPeers = []netip.Prefix{deniedDB}
		c.hooks.noGuard = true
	})
	user, pass := ts.creds("console-1", time.Minute)
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			c := dialRaw(t, ts, network, user, pass)
			require.Zero(t, errorCode(c.allocate(protoUDPByte)))
			for _, p := range refusedPeerAddrs() {
				res := c.do(stun.MethodCreatePermission, peerAttr(p))
				code := stun.ErrorCode(errorCode(res))
				if p.Addr().Is4() || p.Addr().Is4In6() {
					assert.Equal(t, stun.CodeForbidden, code, "CreatePermission %s", p)
				} else {
					assert.Contains(t, []stun.ErrorCode{stun.CodeForbidden, stun.CodePeerAddrFamilyMismatch}, code,
						"CreatePermission %s", p)
				}
				res = c.do(stun.MethodChannelBind, channelAttr(0x4001), peerAttr(p))
				assert.NotZero(t, errorCode(res), "ChannelBind %s refused", p)
				c.indicate(stun.MethodSend, peerAttr(p), dataAttr([]byte("hello")))
			}
			c.do(stun.MethodBinding)
		})
	}
	assert.Empty(t, ts.egress.all())
	assert.Zero(t, ts.relayedTo(t))
}

// TestIPv6AllocationPionHooks runs pion's PermissionHandler on an IPv6 allocation, where the
// NAT64, 6to4, ::1 and fe80:: forms pass pion's family check and reach the policy.
func TestIPv6AllocationPionHooks(t *testing.T) {
	ln, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	_ = ln.Close()
	ts := startServer(t, func(c *Config) {
		c.ListenAddr = "[::1]:0"
		c.hooks.noGuard = true
	})
	user, pass := ts.creds("console-6", time.Minute)
	c := dialRaw(t, ts, "udp", user, pass)
	require.Zero(t, errorCode(c.allocate(protoUDPByte)))
	for _, s := range []string{"::1", "::", "fe80::1", "fc00::1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
		"2002:7f00:1::", "2002:a9fe:a9fe::", "::127.0.0.1", "::169.254.169.254", "ff02::1", "fd00:ec2::254"} {
		p := netip.AddrPortFrom(netip.MustParseAddr(s), 5432)
		res := c.do(stun.MethodCreatePermission, peerAttr(p))
		assert.Equal(t, stun.CodeForbidden, stun.ErrorCode(errorCode(res)), "CreatePermission %s", p)
		res = c.do(stun.MethodConnect, peerAttr(p))
		assert.NotZero(t, errorCode(res), "Connect %s", p)
	}
	assert.Empty(t, ts.egress.all())
}

// TestSeveralPeerAddresses: CreatePermission with one allowed and one refused peer installs
// neither (pion alone would keep the allowed one); ChannelBind, Send and Connect may carry
// only one.
func TestSeveralPeerAddresses(t *testing.T) {
	echo := startUDPEcho(t)
	ts := startServer(t, func(c *Config) {
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	user, pass := ts.creds("console-1", time.Minute)
	allowed := echo.addr()
	refused := mustAddrPort("[::ffff:169.254.169.254]:80")

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			c := dialRaw(t, ts, network, user, pass)
			res := c.allocate(protoUDPByte)
			require.Zero(t, errorCode(res))
			var relayed stun.XORMappedAddress
			require.NoError(t, relayed.GetFromAs(res, stun.AttrXORRelayedAddress))
			relay := ts.relayConnFor(t, relayed)

			for _, order := range [][]netip.AddrPort{{allowed, refused}, {refused, allowed}} {
				res = c.do(stun.MethodCreatePermission, peerAttr(order[0]), peerAttr(order[1]))
				assert.Equal(t, stun.CodeForbidden, stun.ErrorCode(errorCode(res)))
				assert.False(t, relay.has(allowed.Addr()), "no permission installed")
			}
			res = c.do(stun.MethodChannelBind, channelAttr(0x4002), peerAttr(allowed), peerAttr(allowed))
			assert.Equal(t, stun.CodeBadRequest, stun.ErrorCode(errorCode(res)), "ChannelBind ×2")

			// Several allowed peers in one CreatePermission are fine.
			other := mustAddrPort("127.0.0.2:9")
			res = c.do(stun.MethodCreatePermission, peerAttr(allowed), peerAttr(other))
			require.Zero(t, errorCode(res))
			assert.True(t, relay.has(allowed.Addr()))
			assert.True(t, relay.has(other.Addr()))

			// Send with two peers is dropped; the echo would have answered.
			before := echo.count()
			c.indicate(stun.MethodSend, peerAttr(allowed), peerAttr(allowed), dataAttr([]byte("x")))
			c.do(stun.MethodBinding)
			assert.Equal(t, before, echo.count())
		})
	}
	t.Run("connect", func(t *testing.T) {
		c := dialRaw(t, ts, "tcp", user, pass)
		require.Zero(t, errorCode(c.allocate(protoTCPByte)))
		res := c.do(stun.MethodConnect, peerAttr(allowed), peerAttr(refused))
		assert.Equal(t, stun.CodeBadRequest, stun.ErrorCode(errorCode(res)))
	})
	assert.Empty(t, ts.egress.nonLoopback())
}

// relayConnFor finds the relay socket advertised as relayed.
func (ts *testServer) relayConnFor(t *testing.T, relayed stun.XORMappedAddress) *relayPacketConn {
	t.Helper()
	ip, ok := netip.AddrFromSlice(relayed.IP)
	require.True(t, ok)
	adv := netip.AddrPortFrom(ip.Unmap(), uint16(relayed.Port))
	ts.relays.mu.Lock()
	defer ts.relays.mu.Unlock()
	c := ts.relays.udpByAdv[adv]
	require.NotNil(t, c, "relay socket %s", adv)
	return c
}

// TestProtocolRules: a TCP allocation or Connect over UDP is refused (RFC 6062 §5.1), and
// the relay will not send to its own TURN port (a relay loop).
func TestProtocolRules(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	user, pass := ts.creds("console-1", time.Minute)
	c := dialRaw(t, ts, "udp", user, pass)
	assert.Equal(t, stun.CodeBadRequest, stun.ErrorCode(errorCode(c.allocate(protoTCPByte))), "TCP allocation over UDP")
	require.Zero(t, errorCode(c.allocate(protoUDPByte)))
	assert.Equal(t, stun.CodeBadRequest, stun.ErrorCode(errorCode(c.do(stun.MethodConnect,
		peerAttr(mustAddrPort("127.0.0.1:80"))))), "Connect over UDP")

	self := ts.UDPAddr().(*net.UDPAddr).AddrPort()
	res := c.do(stun.MethodCreatePermission, peerAttr(self))
	assert.Equal(t, stun.CodeForbidden, stun.ErrorCode(errorCode(res)), "own TURN port")
	res = c.do(stun.MethodCreatePermission, peerAttr(netip.AddrPortFrom(self.Addr(), 0)))
	assert.Equal(t, stun.CodeForbidden, stun.ErrorCode(errorCode(res)), "port 0")
}

// TestUnauthenticatedRefusalIsChallenged: the guard never answers a stranger; pion
// challenges with 401 and nothing is relayed.
func TestUnauthenticatedRefusalIsChallenged(t *testing.T) {
	ts := startServer(t, nil)
	user, _ := ts.creds("console-1", time.Minute)
	c := dialRaw(t, ts, "udp", user, "not-the-password")
	res := c.allocate(protoUDPByte)
	assert.Equal(t, stun.CodeUnauthorized, stun.ErrorCode(errorCode(res)))
	res = c.do(stun.MethodCreatePermission, peerAttr(mustAddrPort("127.0.0.1:80")))
	assert.Equal(t, stun.CodeUnauthorized, stun.ErrorCode(errorCode(res)))
	assert.Zero(t, ts.refusals(t, refusedPolicy))
	assert.Positive(t, ts.refusals(t, refusedAuth))
}

// TestRelayToAllowedPeer sends data through real allocations made by pion's client over UDP
// and over TCP to a UDP echo on 127.0.0.1, allowed by AllowPeers 127.0.0.0/8, and reads it
// back: Send indications first, ChannelData once pion's client has bound a channel.
func TestRelayToAllowedPeer(t *testing.T) {
	echo := startUDPEcho(t)
	ts := startServer(t, func(c *Config) {
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			user, pass := ts.creds("console-"+network, time.Minute)
			c := newPionClient(t, ts, network, user, pass)
			relay, err := c.Allocate()
			require.NoError(t, err)
			defer relay.Close()
			assert.Equal(t, "127.0.0.1", relay.LocalAddr().(*net.UDPAddr).IP.String())

			// Payloads of at least 5 bytes: pion's TCP framing (STUNConn) waits for 9 bytes
			// before it looks at a frame, so a ChannelData frame of 8 bytes or less sits in
			// the client's buffer until more arrives. WebRTC never sends such small payloads.
			buf := make([]byte, 1500)
			for i := range 20 {
				msg := append([]byte{byte(i)}, "kvmrelay payload"...)
				_, err := relay.WriteTo(msg, udpAddr(echo.addr()))
				require.NoError(t, err)
				require.NoError(t, relay.SetReadDeadline(time.Now().Add(5*time.Second)))
				n, from, err := relay.ReadFrom(buf)
				require.NoError(t, err)
				assert.Equal(t, echo.addr().String(), from.String())
				assert.True(t, bytes.Equal(msg, buf[:n]))
			}
		})
	}
	assert.Empty(t, ts.egress.nonLoopback())
	// The server counts a datagram after its send returns, which can be after the echo
	// answered and the client read it.
	assert.Eventually(t, func() bool { return ts.relayedTo(t) == 40 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, float64(40), counter(t, ts.metrics.packets.WithLabelValues(transportUDP, dirFromPeer)))
	assert.Equal(t, float64(2), counter(t, ts.metrics.total))
}

// TestRFC6062Connect: a TCP allocation connects to a TCP echo on 127.0.0.1 through pion's
// client and data flows both ways over the peer data connection.
func TestRFC6062Connect(t *testing.T) {
	echo := startTCPEcho(t)
	ts := startServer(t, func(c *Config) {
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	user, pass := ts.creds("console-tcp", time.Minute)
	c := newPionClient(t, ts, "tcp", user, pass)
	alloc, err := c.AllocateTCP()
	require.NoError(t, err)
	defer alloc.Close()

	conn, err := alloc.Dial("tcp4", echo.String())
	require.NoError(t, err)
	defer conn.Close()
	for i := range 5 {
		msg := []byte{byte(i), 'p', 'i', 'n', 'g'}
		_, err := conn.Write(msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err = readFull(conn, got)
		require.NoError(t, err)
		assert.Equal(t, msg, got)
	}
	_, err = alloc.Dial("tcp4", "169.254.169.254:80")
	assert.Equal(t, int(stun.CodeForbidden), turnCode(err), "%v", err)
	assert.Empty(t, ts.egress.nonLoopback())
	assert.Positive(t, counter(t, ts.metrics.bytes.WithLabelValues(transportTCP, dirToPeer)))
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
