package turn

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFrameSize(t *testing.T) {
	stunMsg := func(bodyLen int) []byte {
		m, err := stun.Build(stun.TransactionID, stun.BindingRequest)
		require.NoError(t, err)
		b := append([]byte(nil), m.Raw...)
		b[2], b[3] = byte(bodyLen>>8), byte(bodyLen)
		return append(b, make([]byte, bodyLen)...)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want int
		err  bool
	}{
		{"empty", nil, 0, false},
		{"channel header incomplete", []byte{0x40, 0x00, 0x00}, 0, false},
		{"channel data", []byte{0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5}, 12, false},
		{"channel data padded to 4", []byte{0x7f, 0xff, 0x00, 0x04}, 8, false},
		{"empty channel data", []byte{0x40, 0x00, 0x00, 0x00}, 4, false},
		{"stun header incomplete", stunMsg(0)[:19], 0, false},
		{"stun", stunMsg(8), 28, false},
		{"stun announcing more than present", stunMsg(8)[:22], 28, false},
		{"reserved prefix 10", []byte{0x80}, 0, true},
		{"reserved prefix 11 even with the cookie", append([]byte{0xc0, 0, 0, 0}, stunMsg(0)[4:]...), 0, true},
		{"00 prefix without magic cookie", make([]byte, 20), 0, true},
		{"00 prefix, too short to tell", make([]byte, 19), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := frameSize(tc.in)
			if tc.err {
				require.ErrorIs(t, err, errBadFrame)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// streamConn is a net.Conn reading from a byte slice in small pieces.
type streamConn struct {
	net.Conn
	r     io.Reader
	chunk int
}

func (c *streamConn) Read(p []byte) (int, error) {
	if len(p) > c.chunk {
		p = p[:c.chunk]
	}
	return c.r.Read(p)
}
func (c *streamConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *streamConn) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }

func (c *streamConn) SetReadDeadline(time.Time) error { return nil }

// FuzzTCPFraming feeds a byte stream, cut into reads of random size, through the guard's
// connection and pion's STUNConn on top of it, as the server stacks them: pion must get
// exactly the frames the guard cut (and inspected), none merged, none split differently.
func FuzzTCPFraming(f *testing.F) {
	m, _ := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername("1:u"), stun.Fingerprint)
	f.Add(append(append([]byte{}, m.Raw...), 0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0), uint8(3))
	f.Add([]byte{0x40, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x01, 9, 0, 0, 0}, uint8(1))
	f.Add(append(append([]byte{}, m.Raw...), m.Raw...), uint8(200))
	// ChannelData whose payload puts the magic cookie where STUN has it.
	f.Add([]byte{0x40, 0x00, 0x00, 0x14, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(5))
	// A tiny ChannelData followed by a STUN message starting 0x2112a442.
	f.Add([]byte{0x40, 0x00, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(64))
	f.Add([]byte("\xb0000!\x12\xa4B000000000000"), uint8('f'))
	s := guardServer(f)
	s.cfg.hooks.noGuard = true // framing only
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		// What the guard decides on the whole stream.
		var want [][]byte
		for rest := stream; ; {
			size, err := frameSize(rest)
			if err != nil || size == 0 || len(rest) < size {
				break
			}
			if !pionMisreads(rest[:size]) {
				want = append(want, rest[:size])
			}
			rest = rest[size:]
		}
		// What pion gets through the guard.
		g := &guardConn{Conn: &streamConn{r: bytes.NewReader(stream), chunk: int(chunk)%64 + 1},
			l: newGuardListener(nil, s, 1), s: s}
		sc := pionturn.NewSTUNConn(g)
		var got [][]byte
		buf := make([]byte, 70000)
		for {
			n, _, err := sc.ReadFrom(buf)
			if err != nil {
				break
			}
			got = append(got, append([]byte(nil), buf[:n]...))
		}
		require.Equal(t, len(want), len(got), "frames")
		for i := range want {
			require.Equal(t, want[i], got[i], "frame %d", i)
		}
	})
}

// guardServer is a Server for calling inspect directly; nothing is sent over the network.
func guardServer(tb testing.TB) *Server {
	s, err := New(Config{
		ListenAddr: "127.0.0.1:0", Realm: testRealm, Secrets: [][]byte{testSecret},
		AllowPeers: mustPrefixes([]string{"127.0.0.0/8"}), DenyPeers: mustPrefixes([]string{"127.0.0.9/32"}),
	})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// FuzzGuardPeers builds correctly signed requests and indications with one or two
// XOR-PEER-ADDRESS of any family and bytes: whatever the guard lets through to pion names
// only allowed peers, one of them unless it is a CreatePermission.
func FuzzGuardPeers(f *testing.F) {
	s := guardServer(f)
	username, password := MintCredentials(testSecret, "fuzz", time.Now().Add(time.Hour))
	key := stun.NewLongTermIntegrity(username, testRealm, password)
	for _, a := range append(append([]string{}, forbiddenPeers...), publicPeers...) {
		ip := netip.MustParseAddr(a).WithZone("")
		f.Add(ip.AsSlice(), uint16(80), uint8(0), []byte(nil))
		b := ip.As16()
		f.Add(b[:], uint16(443), uint8(1), netip.MustParseAddr("127.0.0.1").AsSlice())
	}
	f.Add([]byte{127, 0, 0, 1}, uint16(0), uint8(2), []byte(nil))
	f.Add([]byte{127, 0, 0, 9}, uint16(9), uint8(3), []byte{127, 0, 0, 2})
	methods := []stun.MessageType{
		stun.NewType(stun.MethodCreatePermission, stun.ClassRequest),
		stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
		stun.NewType(stun.MethodSend, stun.ClassIndication),
		stun.NewType(stun.MethodConnect, stun.ClassRequest),
	}
	f.Fuzz(func(t *testing.T, ip []byte, port uint16, method uint8, second []byte) {
		addr := func(b []byte) (netip.AddrPort, bool) {
			a, ok := netip.AddrFromSlice(b)
			return netip.AddrPortFrom(a, port), ok && (len(b) == 4 || len(b) == 16)
		}
		first, ok := addr(ip)
		if !ok {
			return
		}
		typ := methods[int(method)%len(methods)]
		setters := []stun.Setter{stun.TransactionID, typ, peerAttr(first)}
		peers := []netip.AddrPort{first}
		if p2, ok := addr(second); ok {
			setters = append(setters, peerAttr(p2))
			peers = append(peers, p2)
		}
		setters = append(setters, stun.NewUsername(username), stun.NewRealm(testRealm), stun.NewNonce("n"), key)
		m, err := stun.Build(setters...)
		require.NoError(t, err)

		var in inspector
		for _, overUDP := range []bool{true, false} {
			v := s.inspect(&in, m.Raw, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, overUDP)
			if !v.pass {
				if typ.Class == stun.ClassRequest {
					require.NotNil(t, v.reply, "an authenticated request gets an answer")
					res := &stun.Message{Raw: v.reply}
					require.NoError(t, res.Decode())
					require.NoError(t, key.Check(res), "the answer is signed")
					require.Equal(t, m.TransactionID, res.TransactionID)
				}
				continue
			}
			require.False(t, typ.Method == stun.MethodConnect && overUDP, "Connect over UDP passed")
			if typ.Method != stun.MethodCreatePermission {
				require.Len(t, peers, 1, "several peers passed on %s", typ)
			}
			for _, p := range peers {
				ok, reason := s.peerAllowed(p)
				require.True(t, ok, "guard passed refused peer %s (%s) on %s", p, reason, typ)
			}
		}
	})
}

// FuzzGuardInspect: any bytes at all, as a UDP datagram or a TCP frame, never panic, are
// left as they were, and a Send indication that passes names, as pion reads it, one allowed
// peer: the guard's own XOR-PEER-ADDRESS decoder never lets through what pion's would read
// as a refused address.
func FuzzGuardInspect(f *testing.F) {
	s := guardServer(f)
	m, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodCreatePermission, stun.ClassRequest),
		peerAttr(mustAddrPort("10.0.0.1:1")), stun.NewUsername("1:u"), stun.NewRealm(testRealm),
		stun.NewNonce("n"), stun.MessageIntegrity([]byte("k")), stun.Fingerprint)
	f.Add(m.Raw)
	f.Add([]byte{0x40, 0x00, 0x00, 0x01, 0xff})
	for _, p := range []string{"93.184.216.34:80", "127.0.0.1:80", "[2a00:1450::1]:443", "[::ffff:10.0.0.1]:1"} {
		send, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
			peerAttr(mustAddrPort(p)), dataAttr([]byte("payload")))
		f.Add(send.Raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
		orig := append([]byte(nil), b...)
		var in inspector
		vTCP := s.inspect(&in, b, src, false)
		vUDP := s.inspect(&in, b, src, true)
		require.True(t, bytes.Equal(orig, b), "inspect leaves the frame alone")

		pm := &stun.Message{Raw: append([]byte(nil), b...)}
		if pm.Decode() != nil || pm.Type != stun.NewType(stun.MethodSend, stun.ClassIndication) {
			return
		}
		var a stun.XORMappedAddress
		if a.GetFromAs(pm, stun.AttrXORPeerAddress) != nil {
			return
		}
		ip, _ := netip.AddrFromSlice(a.IP)
		peer := netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
		for _, v := range []verdict{vTCP, vUDP} {
			if v.pass {
				ok, reason := s.peerAllowed(peer)
				require.True(t, ok, "Send to %s (%s) passed the guard", peer, reason)
			}
		}
	})
}

// FuzzXORPeerAddress: the guard's decoder agrees with pion's wherever it accepts a value.
func FuzzXORPeerAddress(f *testing.F) {
	f.Add([]byte{0, 1, 0x21, 0x12, 1, 2, 3, 4}, []byte("0123456789ab"))
	f.Add(append([]byte{0, 2, 0, 80}, make([]byte, 16)...), []byte("0123456789ab"))
	f.Add([]byte{0, 2, 0, 80, 1, 2, 3, 4}, []byte("0123456789ab"))
	f.Fuzz(func(t *testing.T, v, txid []byte) {
		m := stun.New()
		copy(m.TransactionID[:], txid)
		m.Add(stun.AttrXORPeerAddress, v)
		ours, err := xorPeerAddress(m, v)
		if err != nil {
			return
		}
		var a stun.XORMappedAddress
		require.NoError(t, a.GetFromAs(m, stun.AttrXORPeerAddress), "pion decodes what the guard decodes")
		ip, ok := netip.AddrFromSlice(a.IP)
		require.True(t, ok)
		require.Equal(t, netip.AddrPortFrom(ip, uint16(a.Port)), ours)
	})
}

func TestPionMisreads(t *testing.T) {
	assert.True(t, pionMisreads([]byte{0x40, 0, 0, 4, 1, 2, 3, 4}), "8-byte ChannelData")
	assert.False(t, pionMisreads([]byte{0x40, 0, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0}))
	cd := append([]byte{0x40, 0, 0, 16, 0x21, 0x12, 0xa4, 0x42}, make([]byte, 12)...)
	assert.True(t, pionMisreads(cd), "ChannelData with the cookie at offset 4")
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest)
	require.NoError(t, err)
	assert.False(t, pionMisreads(m.Raw))
}
