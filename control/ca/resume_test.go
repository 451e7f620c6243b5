package ca

import (
	"context"
	"crypto/tls"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRevokedDeviceCannotResume: a TLS session ticket from before the revocation does not
// let the device back in — VerifyConnection runs on resumed handshakes too.
func TestRevokedDeviceCannotResume(t *testing.T) {
	tc := newTestCA(t)
	key, cert := tc.issueFor(t, "dev-a")
	srvCert, pool := serverCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc.ServerTLSConfig(&tls.Config{Certificates: []tls.Certificate{srvCert}}))
	require.NoError(t, err)
	defer ln.Close()

	serverErrs := make(chan error, 3)
	go func() {
		for range 3 {
			conn, err := ln.Accept()
			if err != nil {
				serverErrs <- err
				return
			}
			tconn := conn.(*tls.Conn)
			_ = tconn.SetDeadline(time.Now().Add(5 * time.Second))
			err = tconn.HandshakeContext(context.Background())
			if err == nil {
				_, err = tconn.Write([]byte("ok"))
			}
			conn.Close()
			serverErrs <- err
		}
	}()

	clientCfg := &tls.Config{
		RootCAs:            pool,
		Certificates:       []tls.Certificate{*tlsCert(key, cert)},
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	connect := func() (tls.ConnectionState, error) {
		conn, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(conn, make([]byte, 2)) // also receives the session ticket
		return conn.ConnectionState(), err
	}

	cs, err := connect()
	require.NoError(t, err)
	require.NoError(t, <-serverErrs)
	assert.False(t, cs.DidResume)
	cs, err = connect()
	require.NoError(t, err)
	require.NoError(t, <-serverErrs)
	require.True(t, cs.DidResume, "the ticket works before the revocation")

	tc.revs.RevokeDevice("dev-a")
	_, err = connect()
	require.Error(t, err)
	require.ErrorIs(t, <-serverErrs, ErrRevoked)
}
