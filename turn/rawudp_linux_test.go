package turn

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRawUDPReaderBatches: a listener's batched reader returns exactly the datagrams sent —
// none lost, none twice, each sender's in order — with each one's source, from several
// senders at once, cut to the reader's buffer size as net.UDPConn.ReadFrom cuts them.
func TestRawUDPReaderBatches(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, setSocketBuffers(conn, listenerSocketBuffer))
	r := newRawUDP(conn)
	require.NotNil(t, r)

	const senders, each, size = 6, 300, 1600
	addrs := make([]netip.AddrPort, senders)
	conns := make([]*net.UDPConn, senders)
	for i := range conns {
		c, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
		require.NoError(t, err)
		defer c.Close()
		conns[i], addrs[i] = c, c.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for seq := range each {
				// Lengths vary from 4 bytes to past the reader's buffer.
				msg := make([]byte, 4+(seq*7+i*131)%1900)
				binary.BigEndian.PutUint16(msg[0:2], uint16(i))
				binary.BigEndian.PutUint16(msg[2:4], uint16(seq))
				for k := 4; k < len(msg); k++ {
					msg[k] = byte(k + seq)
				}
				if _, err := c.Write(msg); err != nil {
					t.Error(err)
					return
				}
				if seq%50 == 0 {
					time.Sleep(time.Millisecond) // let the reader keep up with six writers
				}
			}
		})
	}

	next := make([]int, senders)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	for range senders * each {
		frame, from, err := r.next(size)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(frame), 4)
		i, seq := int(binary.BigEndian.Uint16(frame[0:2])), int(binary.BigEndian.Uint16(frame[2:4]))
		require.Less(t, i, senders)
		require.Equal(t, next[i], seq, "sender %d: in order, none lost or repeated", i)
		next[i]++
		want := 4 + (seq*7+i*131)%1900
		require.Equal(t, min(want, size), len(frame), "cut to the buffer as ReadFrom cuts")
		for k := 4; k < len(frame); k++ {
			require.Equal(t, byte(k+seq), frame[k])
		}
		assert.Equal(t, addrs[i], from)
		ua := r.udpAddr()
		assert.Equal(t, addrs[i], ua.AddrPort())
		assert.Len(t, ua.IP, 4, "as net.UDPConn gives it on an IPv4 socket")
	}
	wg.Wait()
	// Nothing more: the next read times out, as ReadFrom would.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, _, err = r.next(size)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	// Closed: the reader says so.
	require.NoError(t, conn.Close())
	_, _, err = r.next(size)
	assert.ErrorIs(t, err, net.ErrClosed)
}

// TestRawUDPDualStack: on an IPv6 socket the reader gives IPv4 sources normalized and, for
// pion, IPv4-mapped as net.UDPConn does; sends reach IPv4 destinations through it.
func TestRawUDPDualStack(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skip("no IPv6:", err)
	}
	defer conn.Close()
	r := newRawUDP(conn)
	require.NotNil(t, r)
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer peer.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	_, err = peer.WriteToUDP([]byte("ping"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	require.NoError(t, err)

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	frame, from, err := r.next(1600)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(frame))
	assert.Equal(t, peer.LocalAddr().(*net.UDPAddr).AddrPort(), from, "normalized: unmapped")
	ua := r.udpAddr()
	assert.Len(t, ua.IP, 16)
	assert.Equal(t, "::ffff:127.0.0.1", netip.AddrFrom16([16]byte(ua.IP)).String())

	n, ok := r.sendTo([]byte("pong"), from)
	require.True(t, ok)
	assert.Equal(t, 4, n)
	buf := make([]byte, 16)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, src, err := peer.ReadFromUDP(buf)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(buf[:n]))
	assert.Equal(t, port, src.Port)
}

// TestRawUDPSend: the raw send reaches its destination from the socket's address, refuses
// what it does not handle (the caller then takes net's path), and stops at close.
func TestRawUDPSend(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer conn.Close()
	r := newRawUDP(conn)
	require.NotNil(t, r)
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer peer.Close()
	to := peer.LocalAddr().(*net.UDPAddr)

	recv := func() (string, netip.AddrPort) {
		t.Helper()
		buf := make([]byte, 64)
		require.NoError(t, peer.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, src, err := peer.ReadFromUDPAddrPort(buf)
		require.NoError(t, err)
		return string(buf[:n]), src
	}
	n, ok := r.sendTo([]byte("one"), to.AddrPort())
	require.True(t, ok)
	assert.Equal(t, 3, n)
	msg, src := recv()
	assert.Equal(t, "one", msg)
	assert.Equal(t, conn.LocalAddr().(*net.UDPAddr).AddrPort(), src)

	mapped := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1).To16(), Port: to.Port} // 16-byte form
	_, ok = r.writeTo([]byte("two"), mapped)
	require.True(t, ok)
	msg, _ = recv()
	assert.Equal(t, "two", msg)
	_, ok = r.writeTo(nil, to)
	require.True(t, ok, "an empty datagram is a datagram")
	msg, _ = recv()
	assert.Empty(t, msg)

	for _, a := range []net.Addr{
		&net.UDPAddr{IP: net.ParseIP("::1"), Port: to.Port},                 // IPv6 on an IPv4 socket
		&net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: to.Port, Zone: "lo"}, // a zone
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: to.Port},             // not UDP
		&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 70000},               // no such port
	} {
		_, ok := r.writeTo([]byte("x"), a)
		assert.False(t, ok, "%v", a)
	}
	_, err = r.send([]byte("x"), &net.TCPAddr{})
	assert.ErrorIs(t, err, errRawAddr)

	r.close()
	_, ok = r.sendTo([]byte("late"), to.AddrPort())
	assert.False(t, ok, "closed: no raw send")
	_, err = r.send([]byte("late"), to)
	assert.True(t, errors.Is(err, net.ErrClosed))
	// The socket itself is still the caller's to close, and works through net.
	_, err = conn.WriteToUDP([]byte("net"), to)
	require.NoError(t, err)
	msg, _ = recv()
	assert.Equal(t, "net", msg)
}

// TestRawUDPNotKernel: no raw path for what is not a kernel UDP socket.
func TestRawUDPNotKernel(t *testing.T) {
	assert.Nil(t, newRawUDP(&fakePacketConn{}))
	_, _, err := dupUDP(&fakePacketConn{})
	assert.ErrorIs(t, err, errNotKernelSocket)
	var r *rawUDP
	_, ok := r.sendTo([]byte("x"), netip.MustParseAddrPort("127.0.0.1:1"))
	assert.False(t, ok)
	r.close()
}
