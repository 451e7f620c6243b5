package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serverCert makes a throwaway server certificate for 127.0.0.1 and a pool trusting it.
func serverCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key := newP384(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

type handshakeResult struct {
	serverErr error
	device    Device
	deviceErr error
	clientErr error
}

// handshake runs one real TLS connection over 127.0.0.1 between a relay configured by
// ServerTLSConfig and a client presenting cert (nil: none). The relay judges client
// certificates by the CA's (test) clock; the client judges the server's by the wall clock.
func handshake(t *testing.T, c *CA, cert *tls.Certificate) handshakeResult {
	t.Helper()
	srvCert, srvPool := serverCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", c.ServerTLSConfig(&tls.Config{Certificates: []tls.Certificate{srvCert}}))
	require.NoError(t, err)
	defer ln.Close()

	done := make(chan handshakeResult, 1)
	go func() {
		var r handshakeResult
		defer func() { done <- r }()
		conn, err := ln.Accept()
		if err != nil {
			r.serverErr = err
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if r.serverErr = tc.HandshakeContext(context.Background()); r.serverErr != nil {
			return
		}
		cs := tc.ConnectionState()
		r.device, r.deviceErr = c.DeviceFromTLS(context.Background(), &cs)
		_, _ = tc.Write([]byte("ok"))
	}()

	clientCfg := &tls.Config{
		RootCAs: srvPool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		},
	}
	conn, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
	var res handshakeResult
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		// With TLS 1.3 the client finishes before the server has judged its certificate; the
		// refusal shows up on the first read.
		_, err = io.ReadFull(conn, make([]byte, 2))
		conn.Close()
	}
	res = <-done
	res.clientErr = err
	return res
}

func tlsCert(key *ecdsa.PrivateKey, cert *x509.Certificate) *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// TestMTLSHandshake checks the relay's TLS config over a real loopback connection
// (SECURITY.md item 8: a revoked device's certificate is refused).
func TestMTLSHandshake(t *testing.T) {
	tc := newTestCA(t)
	key, cert := tc.issueFor(t, "dev-a")
	rKey, rCert := tc.issueFor(t, "dev-r")
	tc.revs.RevokeDevice("dev-r")
	oKey, oCert := newTestCA(t).issueFor(t, "dev-a")

	t.Run("enrolled agent accepted", func(t *testing.T) {
		r := handshake(t, tc.CA, tlsCert(key, cert))
		require.NoError(t, r.serverErr)
		require.NoError(t, r.clientErr)
		require.NoError(t, r.deviceErr)
		assert.Equal(t, "dev-a", r.device.ID)
	})
	t.Run("revoked device refused", func(t *testing.T) {
		r := handshake(t, tc.CA, tlsCert(rKey, rCert))
		require.ErrorIs(t, r.serverErr, ErrRevoked)
		require.Error(t, r.clientErr)
	})
	t.Run("other CA refused", func(t *testing.T) {
		r := handshake(t, tc.CA, tlsCert(oKey, oCert))
		require.Error(t, r.serverErr)
		require.Error(t, r.clientErr)
	})
	t.Run("no certificate is anonymous, not a device", func(t *testing.T) {
		r := handshake(t, tc.CA, nil)
		require.NoError(t, r.serverErr)
		require.NoError(t, r.clientErr)
		require.ErrorIs(t, r.deviceErr, ErrNoCertificate)
	})
	t.Run("revoked after handshake is caught on re-check", func(t *testing.T) {
		k, c := tc.issueFor(t, "dev-late")
		r := handshake(t, tc.CA, tlsCert(k, c))
		require.NoError(t, r.serverErr)
		tc.revs.RevokeDevice("dev-late")
		_, err := tc.Verify(context.Background(), []*x509.Certificate{c}, tc.clock.Now())
		require.ErrorIs(t, err, ErrRevoked)
	})
	t.Run("expired certificate refused", func(t *testing.T) { // last: it moves the clock
		tc.clock.Add(DefaultCertTTL + time.Second)
		r := handshake(t, tc.CA, tlsCert(key, cert))
		require.Error(t, r.serverErr)
		require.Error(t, r.clientErr)
	})
}
