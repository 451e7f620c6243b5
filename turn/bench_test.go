package turn

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
	"github.com/stretchr/testify/require"
)

// Benchmarks of the relay hot path. They print; nothing asserts on time. The "hot path" ones
// run this package's per-datagram work over a socket that does no system call, so they show
// what the wrappers add to pion and the kernel; BenchmarkRelayRoundTrip is the whole path
// over loopback.

// fakePacketConn returns the same datagram from the same address on every read and drops
// every write: no system call.
type fakePacketConn struct {
	net.PacketConn // nil: only the methods below are called
	payload        []byte
	from           net.Addr
}

func (f *fakePacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	return copy(p, f.payload), f.from, nil
}

func (f *fakePacketConn) WriteTo(p []byte, _ net.Addr) (int, error) { return len(p), nil }

func newBenchServer(b *testing.B) *Server {
	b.Helper()
	cfg := Config{
		ListenAddr: "127.0.0.1:0", Secrets: [][]byte{testSecret}, Realm: testRealm,
		AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}
	s, err := New(cfg)
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkRelayHotPath: what this package adds per relayed datagram, on each side of
// pion: a relay socket's WriteTo (client → peer) and ReadFrom (peer → client), and the
// listener guard's ReadFrom for ChannelData and for a Send indication (which it decodes).
func BenchmarkRelayHotPath(b *testing.B) {
	s := newBenchServer(b)
	peer := netip.MustParseAddrPort("93.184.216.34:5004") // an Internet peer: the policy's longest walk; nothing is sent
	peerAddr := net.UDPAddrFromAddrPort(peer)
	payload := make([]byte, 1200) // a video RTP packet

	relay := func(conn net.PacketConn) *relayPacketConn {
		c := &relayPacketConn{
			PacketConn: conn, r: s.relays, s: s, release: func() {},
			bw: newBandwidth(0, s.now), fl: s.metrics.flow(transportUDP),
		}
		allowed, _ := s.policy.Allowed(peer.Addr())
		c.set(peer.Addr(), true, allowed)
		return c
	}
	b.Run("to-peer", func(b *testing.B) {
		c := relay(&fakePacketConn{})
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := c.WriteTo(payload, peerAddr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("from-peer", func(b *testing.B) {
		c := relay(&fakePacketConn{payload: payload, from: peerAddr})
		buf := make([]byte, 1600)
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, _, err := c.ReadFrom(buf); err != nil {
				b.Fatal(err)
			}
		}
	})

	client := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	guard := func(frame []byte) *guardPacketConn {
		return &guardPacketConn{PacketConn: &fakePacketConn{payload: frame, from: client}, s: s}
	}
	channelData := append([]byte{0x40, 0x01, byte(len(payload) >> 8), byte(len(payload))}, payload...)
	send, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		peerAttr(peer), dataAttr(payload), stun.Fingerprint)
	require.NoError(b, err)
	for _, tc := range []struct {
		name  string
		frame []byte
	}{{"guard-channeldata", channelData}, {"guard-send", send.Raw}} {
		b.Run(tc.name, func(b *testing.B) {
			g := guard(tc.frame)
			buf := make([]byte, 1600)
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, _, err := g.ReadFrom(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRelayRoundTrip: pion's client sends a 1200-byte datagram through a real
// allocation (ChannelData once the channel is bound) to a UDP echo on 127.0.0.1 and reads the
// echo back through the relay: two relayed datagrams per op, system calls included.
func BenchmarkRelayRoundTrip(b *testing.B) {
	echo, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(b, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = echo.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	b.Cleanup(func() { _ = echo.Close(); <-done })

	s := newBenchServer(b)
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(b, err)
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	user, pass := MintCredentials(testSecret, "bench", time.Now().Add(time.Hour))
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: s.UDPAddr().String(), TURNServerAddr: s.UDPAddr().String(), Conn: conn,
		Username: user, Password: pass, Realm: testRealm, LoggerFactory: lf,
	})
	require.NoError(b, err)
	require.NoError(b, c.Listen())
	b.Cleanup(func() { c.Close(); _ = conn.Close() })
	relay, err := c.Allocate()
	require.NoError(b, err)
	b.Cleanup(func() { _ = relay.Close() })

	peer := echo.LocalAddr()
	msg := make([]byte, 1200)
	buf := make([]byte, 1600)
	roundTrip := func() {
		if _, err := relay.WriteTo(msg, peer); err != nil {
			b.Fatal(err)
		}
		_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := relay.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
	for range 10 { // permission, channel bind
		roundTrip()
	}
	b.SetBytes(int64(2 * len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
}
