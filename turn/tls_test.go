package turn

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

const tlsTestName = "turn.kvmrelay.test"

// testCert is a self-signed certificate for tlsTestName and 127.0.0.1, written as PEM files.
type testCert struct {
	certFile, keyFile string
	pair              tls.Certificate
	pool              *x509.CertPool
}

func newTestCert(t *testing.T) *testCert {
	t.Helper()
	c := testenv.SelfSignedCert(t, tlsTestName)
	return &testCert{certFile: c.CertFile, keyFile: c.KeyFile, pair: c.Pair, pool: c.Pool}
}

func (c *testCert) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: c.pool, ServerName: tlsTestName, MinVersion: tls.VersionTLS12}
}

// startTLSServer starts a test server with a TLS listener on 127.0.0.1 (certificate files).
func startTLSServer(t *testing.T, cert *testCert, mod func(*Config)) *testServer {
	t.Helper()
	return startServer(t, func(c *Config) {
		c.TLSListenAddr = "127.0.0.1:0"
		c.TLSCert, c.TLSKey = cert.certFile, cert.keyFile
		c.TLSServerName = tlsTestName
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		if mod != nil {
			mod(c)
		}
	})
}

// dialTLS opens a verified TLS connection to the server's TLS listener.
func dialTLS(t *testing.T, ts *testServer, cert *testCert) *tls.Conn {
	t.Helper()
	d := tls.Dialer{Config: cert.clientConfig()}
	c, err := d.DialContext(t.Context(), "tcp", ts.TLSAddr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c.(*tls.Conn)
}

// newTLSPionClient is pion's TURN client over TLS to the test server.
func newTLSPionClient(t *testing.T, ts *testServer, cert *testCert, username, password string) *pionClient {
	t.Helper()
	conn := pionturn.NewSTUNConn(dialTLS(t, ts, cert))
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	addr := ts.TLSAddr().String()
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

// TestTLSRelay: pion's client over TLS (certificate verified against a self-signed root
// made here) allocates, relays to a UDP echo on 127.0.0.1 and reads the echo back; a
// special-purpose peer is refused with 403 over TLS as over TCP.
func TestTLSRelay(t *testing.T) {
	cert := newTestCert(t)
	echo := startUDPEcho(t)
	ts := startTLSServer(t, cert, nil)
	require.NotNil(t, ts.TLSAddr())
	assert.NotEqual(t, ts.TCPAddr().String(), ts.TLSAddr().String())

	u, p := ts.creds("console-tls", time.Minute)
	c := newTLSPionClient(t, ts, cert, u, p)
	relay, err := c.Allocate()
	require.NoError(t, err)
	defer relay.Close()

	buf := make([]byte, 1500)
	for i := range 10 {
		msg := append([]byte{byte(i)}, "kvmrelay over TLS"...)
		_, err := relay.WriteTo(msg, udpAddr(echo.addr()))
		require.NoError(t, err)
		require.NoError(t, relay.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, from, err := relay.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, echo.addr().String(), from.String())
		assert.True(t, bytes.Equal(msg, buf[:n]))
	}
	_, err = relay.WriteTo([]byte("metadata please"), udpAddr(mustAddrPort("169.254.169.254:80")))
	assert.Equal(t, int(stun.CodeForbidden), turnCode(err), "%v", err)
	assert.Equal(t, float64(1), ts.refusals(t, refusedPolicy))
	assert.Empty(t, ts.egress.nonLoopback())
	assert.Eventually(t, func() bool { return ts.relayedTo(t) == 10 }, 5*time.Second, time.Millisecond)
}

// TestTLSGuard: the guard stands in front of the TLS listener too (a raw client over TLS
// gets the guard's signed 403 and 400 answers).
func TestTLSGuard(t *testing.T) {
	cert := newTestCert(t)
	ts := startTLSServer(t, cert, func(c *Config) {
		c.AllowPeers, c.DenyPeers = nil, []netip.Prefix{deniedDB, deniedRedis}
	})
	u, p := ts.creds("console-tls", time.Minute)
	c := &rawClient{
		t: t, conn: dialTLS(t, ts, cert), tcp: true, username: u, realm: testRealm,
		integrity: stun.NewLongTermIntegrity(u, testRealm, p),
	}
	require.Zero(t, errorCode(c.allocate(protoUDPByte)))
	for _, peer := range refusedPeerAddrs() {
		res := c.do(stun.MethodCreatePermission, peerAttr(peer))
		assert.Equal(t, stun.CodeForbidden, stun.ErrorCode(errorCode(res)), "%s", peer)
		assert.NoError(t, stun.MessageIntegrity(c.integrity).Check(res), "refusal is signed")
	}
	res := c.do(stun.MethodChannelBind, channelAttr(0x4001), peerAttr(mustAddrPort("127.0.0.1:9")),
		peerAttr(mustAddrPort("127.0.0.1:9")))
	assert.Equal(t, stun.CodeBadRequest, stun.ErrorCode(errorCode(res)), "several XOR-PEER-ADDRESS")
	assert.Empty(t, ts.egress.all())
}

// TestTLSConnect: an RFC 6062 TCP allocation over TLS, its data connection a second TLS
// connection, to a TCP echo on 127.0.0.1.
func TestTLSConnect(t *testing.T) {
	cert := newTestCert(t)
	echo := startTCPEcho(t)
	ts := startTLSServer(t, cert, nil)
	u, p := ts.creds("console-tls", time.Minute)
	c := newTLSPionClient(t, ts, cert, u, p)
	alloc, err := c.AllocateTCP()
	require.NoError(t, err)
	defer alloc.Close()

	conn, err := alloc.DialWithConn(tlsTCPConn{dialTLS(t, ts, cert)}, "tcp4", echo.String())
	require.NoError(t, err)
	defer conn.Close()
	msg := []byte("ping over a TLS data connection")
	_, err = conn.Write(msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = readFull(conn, got)
	require.NoError(t, err)
	assert.Equal(t, msg, got)
	assert.Empty(t, ts.egress.nonLoopback())
}

// TestTLSRefusesPlainAndOld: plain STUN on the TLS port gets no answer, and TLS 1.1 is
// refused.
func TestTLSRefusesPlainAndOld(t *testing.T) {
	cert := newTestCert(t)
	ts := startTLSServer(t, cert, nil)

	plain, err := net.Dial("tcp", ts.TLSAddr().String())
	require.NoError(t, err)
	defer plain.Close()
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	require.NoError(t, err)
	_, err = plain.Write(req.Raw)
	require.NoError(t, err)
	require.NoError(t, plain.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 1500)
	n, err := plain.Read(buf)
	require.Error(t, err, "connection closed")
	assert.False(t, stun.IsMessage(buf[:n]), "no STUN answer in clear")

	old := cert.clientConfig()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	d := tls.Dialer{Config: old}
	_, err = d.DialContext(t.Context(), "tcp", ts.TLSAddr().String())
	require.Error(t, err, "TLS 1.1 refused")
}

// TestTLSConfigAndICE: a *tls.Config instead of files works the same, and ICEServers offers
// turns: with TLSServerName (or PublicIP without one).
func TestTLSConfigAndICE(t *testing.T) {
	cert := newTestCert(t)
	for _, name := range []string{tlsTestName, ""} {
		t.Run("name="+name, func(t *testing.T) {
			ts := startServer(t, func(c *Config) {
				c.TLSListenAddr = "127.0.0.1:0"
				c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert.pair}}
				c.TLSServerName = name
			})
			tlsPort := strconv.Itoa(ts.TLSAddr().(*net.TCPAddr).Port)
			port := strconv.Itoa(int(ts.port))
			servers := ts.ICEServers("console-ice", time.Minute)
			require.Len(t, servers, 2)
			host := name
			if host == "" {
				host = "127.0.0.1"
			}
			assert.Equal(t, []string{
				"turn:127.0.0.1:" + port + "?transport=udp",
				"turn:127.0.0.1:" + port + "?transport=tcp",
				"turns:" + host + ":" + tlsPort + "?transport=tcp",
			}, servers[1].URLs)

			relay, err := newTLSPionClient(t, ts, cert, servers[1].Username, servers[1].Credential).Allocate()
			require.NoError(t, err, "the minted credentials work over TLS")
			require.NoError(t, relay.Close())
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	cert := newTestCert(t)
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"listener without certificate", func(c *Config) { c.TLSListenAddr = "127.0.0.1:0" }},
		{"files and TLSConfig", func(c *Config) {
			c.TLSListenAddr, c.TLSCert, c.TLSKey = "127.0.0.1:0", cert.certFile, cert.keyFile
			c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert.pair}}
		}},
		{"cert without key", func(c *Config) { c.TLSListenAddr, c.TLSCert = "127.0.0.1:0", cert.certFile }},
		{"certificate without listener", func(c *Config) { c.TLSCert, c.TLSKey = cert.certFile, cert.keyFile }},
		{"TLSConfig without certificate", func(c *Config) {
			c.TLSListenAddr, c.TLSConfig = "127.0.0.1:0", &tls.Config{}
		}},
		{"missing files", func(c *Config) {
			c.TLSListenAddr, c.TLSCert, c.TLSKey = "127.0.0.1:0", cert.certFile+".nope", cert.keyFile
		}},
		{"key of the wrong file", func(c *Config) {
			c.TLSListenAddr, c.TLSCert, c.TLSKey = "127.0.0.1:0", cert.certFile, cert.certFile
		}},
		{"bad listen address", func(c *Config) {
			c.TLSListenAddr, c.TLSCert, c.TLSKey = "127.0.0.1", cert.certFile, cert.keyFile
		}},
		{"server name with a port", func(c *Config) {
			c.TLSListenAddr, c.TLSCert, c.TLSKey = "127.0.0.1:0", cert.certFile, cert.keyFile
			c.TLSServerName = tlsTestName + ":443"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{ListenAddr: "127.0.0.1:0", Secrets: [][]byte{testSecret}}
			tc.mod(&cfg)
			s, err := New(cfg)
			require.ErrorIs(t, err, ErrConfig)
			assert.Nil(t, s)
		})
	}
}

// tlsTCPConn gives a TLS connection the TCP methods pion's client wants of a data connection
// (it only ever closes it).
type tlsTCPConn struct{ *tls.Conn }

func (c tlsTCPConn) CloseRead() error                       { return nil }
func (c tlsTCPConn) ReadFrom(r io.Reader) (int64, error)    { return io.Copy(c.Conn, r) }
func (c tlsTCPConn) SetLinger(int) error                    { return nil }
func (c tlsTCPConn) SetKeepAlive(bool) error                { return nil }
func (c tlsTCPConn) SetKeepAlivePeriod(time.Duration) error { return nil }
func (c tlsTCPConn) SetNoDelay(bool) error                  { return nil }
func (c tlsTCPConn) SetWriteBuffer(int) error               { return nil }
func (c tlsTCPConn) SetReadBuffer(int) error                { return nil }
