package enroll

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/control/ca"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func serverCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := NewKey()
	require.NoError(t, err)
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
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// dial makes one real mTLS connection over 127.0.0.1 from the agent identity to a relay
// listener configured by ca.ServerTLSConfig, and returns what the relay saw.
func dial(t *testing.T, c *ca.CA, id *Identity) (ca.Device, error) {
	t.Helper()
	srvCert, pool := serverCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", c.ServerTLSConfig(&tls.Config{Certificates: []tls.Certificate{srvCert}}))
	require.NoError(t, err)
	defer ln.Close()
	type result struct {
		dev ca.Device
		err error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() { done <- res }()
		conn, err := ln.Accept()
		if err != nil {
			res.err = err
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if res.err = tc.Handshake(); res.err != nil {
			return
		}
		cs := tc.ConnectionState()
		res.dev, res.err = c.DeviceFromTLS(context.Background(), &cs)
		_, _ = tc.Write([]byte("ok"))
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, GetClientCertificate: id.GetClientCertificate})
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(conn, make([]byte, 2))
		conn.Close()
	}
	res := <-done
	if res.err == nil && err != nil {
		res.err = err
	}
	return res.dev, res.err
}

// TestMTLSWithEnrolledIdentity: an enrolled agent is accepted as its device, picks up a
// renewed certificate on its next connection without a restart, and is refused once revoked.
func TestMTLSWithEnrolledIdentity(t *testing.T) {
	r, id, _ := enrolled(t, "dev-1")

	dev, err := dial(t, r.ca, id)
	require.NoError(t, err)
	assert.Equal(t, "dev-1", dev.ID)
	assert.Equal(t, id.Certificate().SerialNumber, dev.Serial)

	ren, err := NewRenewer(RenewerConfig{Identity: id, Client: r, Now: r.clock.Now})
	require.NoError(t, err)
	r.clock.Add(time.Hour)
	require.NoError(t, ren.RenewOnce(context.Background()))
	dev, err = dial(t, r.ca, id)
	require.NoError(t, err)
	assert.Equal(t, id.Certificate().SerialNumber, dev.Serial, "renewed certificate presented")

	r.revs.RevokeDevice("dev-1")
	_, err = dial(t, r.ca, id)
	require.ErrorIs(t, err, ca.ErrRevoked)
}

func TestMTLSOtherRelayRefuses(t *testing.T) {
	_, id, _ := enrolled(t, "dev-1")
	other := newRelay(t)
	_, err := dial(t, other.ca, id)
	require.Error(t, err)
}
