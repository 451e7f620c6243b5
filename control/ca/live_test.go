package ca

import (
	"context"
	"crypto/tls"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type closeCounter struct {
	mu sync.Mutex
	n  int
}

func (c *closeCounter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return nil
}

func TestLiveTrackAndClose(t *testing.T) {
	l := NewLive()
	a1, a2, b := &closeCounter{}, &closeCounter{}, &closeCounter{}
	l.Track("dev-a", a1)
	untrack := l.Track("dev-a", a2)
	l.Track("dev-b", b)
	untrack()
	untrack()
	assert.Equal(t, 1, l.Count("dev-a"))
	assert.Equal(t, 1, l.CloseDevice("dev-a"))
	assert.Equal(t, 1, a1.n)
	assert.Equal(t, 0, a2.n, "untracked connections are left alone")
	assert.Equal(t, 0, b.n, "other devices are left alone")
	assert.Equal(t, 0, l.CloseDevice("dev-a"))
	assert.Equal(t, 1, l.Count("dev-b"))
}

// TestRevocationCutsLiveTLSConnection: a device connected over mTLS is disconnected the
// moment it is revoked, and cannot reconnect.
func TestRevocationCutsLiveTLSConnection(t *testing.T) {
	tc := newTestCA(t)
	live := NewLive()
	key, cert := tc.issueFor(t, "dev-a")
	srvCert, pool := serverCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc.ServerTLSConfig(&tls.Config{Certificates: []tls.Certificate{srvCert}}))
	require.NoError(t, err)
	defer ln.Close()

	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		tconn := conn.(*tls.Conn)
		if err := tconn.HandshakeContext(context.Background()); err != nil {
			conn.Close()
			return
		}
		cs := tconn.ConnectionState()
		dev, err := tc.DeviceFromTLS(context.Background(), &cs)
		if err != nil {
			conn.Close()
			return
		}
		defer live.Track(dev.ID, conn)()
		_, _ = conn.Write([]byte("hi"))
		_, _ = io.Copy(io.Discard, conn) // serve until the connection is cut
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{*tlsCert(key, cert)}})
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // hang guard only
	_, err = io.ReadFull(conn, make([]byte, 2))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return live.Count("dev-a") == 1 }, 10*time.Second, time.Millisecond)

	tc.revs.RevokeDevice("dev-a")
	assert.Equal(t, 1, live.CloseDevice("dev-a"))
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the relay closed the connection")
	<-served
}
