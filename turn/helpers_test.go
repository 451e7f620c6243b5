package turn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// Network rule for these tests: traffic goes to loopback only. Every test server carries an
// egress hook that refuses (and records) any destination outside loopback, so even a broken
// policy cannot send a packet anywhere else; tests then assert the hook was never asked.

var testSecret = []byte("0123456789abcdef0123456789abcdef")

const testRealm = "kvmrelay.test"

// egressLog records what relay sockets tried to reach.
type egressLog struct {
	mu       sync.Mutex
	attempts []netip.AddrPort
}

var errTestEgress = errors.New("test egress hook: only loopback may be reached")

func (e *egressLog) hook(p netip.AddrPort) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.attempts = append(e.attempts, p)
	if !p.Addr().Unmap().IsLoopback() {
		return errTestEgress
	}
	return nil
}

func (e *egressLog) nonLoopback() []netip.AddrPort {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []netip.AddrPort
	for _, p := range e.attempts {
		if !p.Addr().Unmap().IsLoopback() {
			out = append(out, p)
		}
	}
	return out
}

func (e *egressLog) all() []netip.AddrPort {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]netip.AddrPort(nil), e.attempts...)
}

type testServer struct {
	*Server
	egress *egressLog
	reg    *prometheus.Registry
}

// startServer starts a Server on 127.0.0.1 with an ephemeral port; mod adjusts the config.
func startServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	eg := &egressLog{}
	reg := prometheus.NewRegistry()
	cfg := Config{
		ListenAddr: "127.0.0.1:0",
		Realm:      testRealm,
		Secrets:    [][]byte{testSecret},
		Registerer: reg,
	}
	cfg.hooks.egress = eg.hook
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return &testServer{Server: s, egress: eg, reg: reg}
}

func (ts *testServer) creds(user string, ttl time.Duration) (string, string) {
	return MintCredentials(testSecret, user, time.Now().Add(ttl))
}

func counter(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	c.Collect(ch)
	close(ch)
	var sum float64
	for m := range ch {
		var d dto.Metric
		require.NoError(t, m.Write(&d))
		switch {
		case d.Counter != nil:
			sum += d.Counter.GetValue()
		case d.Gauge != nil:
			sum += d.Gauge.GetValue()
		}
	}
	return sum
}

func (ts *testServer) refusals(t *testing.T, reason string) float64 {
	return counter(t, ts.metrics.refusals.WithLabelValues(reason))
}

func (ts *testServer) relayedTo(t *testing.T) float64 {
	return counter(t, ts.metrics.packets.WithLabelValues(transportUDP, dirToPeer)) +
		counter(t, ts.metrics.packets.WithLabelValues(transportTCP, dirToPeer))
}

// rawClient speaks STUN/TURN by hand, so tests can send what no well-behaved client sends
// (several XOR-PEER-ADDRESS, IPv6-family IPv4-mapped peers, Connect over UDP).
type rawClient struct {
	t         *testing.T
	conn      net.Conn
	tcp       bool
	username  string
	realm     string
	nonce     []byte
	integrity stun.MessageIntegrity
	buf       []byte
}

func dialRaw(t *testing.T, ts *testServer, network, username, password string) *rawClient {
	t.Helper()
	addr := ts.UDPAddr().String()
	if network == "tcp" {
		addr = ts.TCPAddr().String()
	}
	conn, err := net.Dial(network, addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{
		t: t, conn: conn, tcp: network == "tcp", username: username, realm: testRealm,
		integrity: stun.NewLongTermIntegrity(username, testRealm, password),
	}
}

// read returns the next STUN message from the server.
func (c *rawClient) read(deadline time.Time) (*stun.Message, error) {
	_ = c.conn.SetReadDeadline(deadline)
	for {
		var frame []byte
		if c.tcp {
			for {
				if size, err := frameSize(c.buf); err != nil {
					return nil, err
				} else if size > 0 && len(c.buf) >= size {
					frame, c.buf = c.buf[:size], c.buf[size:]
					break
				}
				tmp := make([]byte, 4096)
				n, err := c.conn.Read(tmp)
				if err != nil {
					return nil, err
				}
				c.buf = append(c.buf, tmp[:n]...)
			}
		} else {
			tmp := make([]byte, 2048)
			n, err := c.conn.Read(tmp)
			if err != nil {
				return nil, err
			}
			frame = tmp[:n]
		}
		if !stun.IsMessage(frame) {
			continue // ChannelData
		}
		m := &stun.Message{Raw: append([]byte(nil), frame...)}
		if err := m.Decode(); err != nil {
			return nil, err
		}
		return m, nil
	}
}

// do sends a request and returns the response to it, authenticating (once) when challenged.
func (c *rawClient) do(method stun.Method, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	for range 3 {
		m := c.build(stun.NewType(method, stun.ClassRequest), attrs...)
		_, err := c.conn.Write(m.Raw)
		require.NoError(c.t, err)
		res := c.await(m.TransactionID)
		var ec stun.ErrorCodeAttribute
		if res.Type.Class == stun.ClassErrorResponse && ec.GetFrom(res) == nil &&
			(ec.Code == stun.CodeUnauthorized || ec.Code == stun.CodeStaleNonce) && res.Contains(stun.AttrNonce) {
			var n stun.Nonce
			require.NoError(c.t, n.GetFrom(res))
			if c.nonce != nil && ec.Code == stun.CodeUnauthorized {
				return res // authenticated and still refused
			}
			c.nonce = n
			continue
		}
		return res
	}
	c.t.Fatalf("no answer to %s after retries", method)
	return nil
}

func (c *rawClient) await(id [stun.TransactionIDSize]byte) *stun.Message {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := c.read(deadline)
		require.NoError(c.t, err, "waiting for a response")
		if res.TransactionID == id && res.Type.Class != stun.ClassIndication {
			return res
		}
	}
}

// indicate sends an indication (no response expected).
func (c *rawClient) indicate(method stun.Method, attrs ...stun.Setter) {
	c.t.Helper()
	m := c.build(stun.NewType(method, stun.ClassIndication), attrs...)
	_, err := c.conn.Write(m.Raw)
	require.NoError(c.t, err)
}

func (c *rawClient) build(typ stun.MessageType, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	setters := append([]stun.Setter{stun.TransactionID, typ}, attrs...)
	if c.nonce != nil && typ.Class == stun.ClassRequest {
		setters = append(setters, stun.NewUsername(c.username), stun.NewRealm(c.realm),
			stun.NewNonce(string(c.nonce)), c.integrity)
	}
	setters = append(setters, stun.Fingerprint)
	m, err := stun.Build(setters...)
	require.NoError(c.t, err)
	return m
}

func (c *rawClient) allocate(proto byte) *stun.Message {
	c.t.Helper()
	return c.do(stun.MethodAllocate, rawAttr{stun.AttrRequestedTransport, []byte{proto, 0, 0, 0}})
}

func errorCode(m *stun.Message) int {
	if m.Type.Class != stun.ClassErrorResponse {
		return 0
	}
	var ec stun.ErrorCodeAttribute
	if ec.GetFrom(m) != nil {
		return -1
	}
	return int(ec.Code)
}

type rawAttr struct {
	typ stun.AttrType
	val []byte
}

func (a rawAttr) AddTo(m *stun.Message) error { m.Add(a.typ, a.val); return nil }

// peerAttr encodes XOR-PEER-ADDRESS with the address family of its netip form: an
// IPv4-mapped address goes on the wire as IPv6 (pion's encoder would turn it into IPv4).
type peerAttr netip.AddrPort

func (p peerAttr) AddTo(m *stun.Message) error {
	ap := netip.AddrPort(p)
	ip := ap.Addr().AsSlice()
	family := uint16(0x01)
	if len(ip) == 16 {
		family = 0x02
	}
	v := make([]byte, 4+len(ip))
	binary.BigEndian.PutUint16(v[0:2], family)
	binary.BigEndian.PutUint16(v[2:4], ap.Port()^0x2112)
	xor := make([]byte, 16)
	binary.BigEndian.PutUint32(xor[0:4], 0x2112A442)
	copy(xor[4:], m.TransactionID[:])
	for i := range ip {
		v[4+i] = ip[i] ^ xor[i]
	}
	m.Add(stun.AttrXORPeerAddress, v)
	return nil
}

func channelAttr(n uint16) rawAttr {
	return rawAttr{stun.AttrChannelNumber, []byte{byte(n >> 8), byte(n), 0, 0}}
}

func dataAttr(b []byte) rawAttr { return rawAttr{stun.AttrData, b} }

// udpEcho answers every datagram on 127.0.0.1 with the same bytes and counts them.
type udpEcho struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  int
	done chan struct{}
}

func startUDPEcho(t *testing.T) *udpEcho {
	t.Helper()
	e, err := listenUDPEcho(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0))
	require.NoError(t, err)
	return e
}

// listenUDPEcho starts an echo on at, stopped when the test ends.
func listenUDPEcho(t *testing.T, at netip.AddrPort) (*udpEcho, error) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(at))
	if err != nil {
		return nil, err
	}
	e := &udpEcho{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			e.mu.Lock()
			e.got++
			e.mu.Unlock()
			_, _ = conn.WriteToUDP(buf[:n], from)
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); <-e.done })
	return e, nil
}

func (e *udpEcho) addr() netip.AddrPort { return e.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (e *udpEcho) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.got
}

// tcpEcho echoes every TCP connection on 127.0.0.1.
func startTCPEcho(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// pionClient is a real pion/turn client over UDP or TCP to the test server.
type pionClient struct {
	*pionturn.Client
	conn net.PacketConn
}

func newPionClient(t *testing.T, ts *testServer, network, username, password string) *pionClient {
	t.Helper()
	var conn net.PacketConn
	addr := ts.UDPAddr().String()
	if network == "tcp" {
		c, err := net.Dial("tcp", ts.TCPAddr().String())
		require.NoError(t, err)
		conn = pionturn.NewSTUNConn(c)
		addr = ts.TCPAddr().String()
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		require.NoError(t, err)
		conn = c
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
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

func (c *pionClient) close() {
	c.Client.Close()
	_ = c.conn.Close()
}

// turnCode extracts the STUN error code from a pion client error, 0 if there is none.
func turnCode(err error) int {
	var p *stun.TurnError
	if errors.As(err, &p) {
		return int(p.ErrorCodeAttr.Code)
	}
	var v stun.TurnError
	if errors.As(err, &v) {
		return int(v.ErrorCodeAttr.Code)
	}
	return 0
}

func mustAddrPort(s string) netip.AddrPort {
	return netip.MustParseAddrPort(s)
}

func udpAddr(p netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(p) }

func describe(p netip.AddrPort) string { return fmt.Sprintf("%s", p) }
