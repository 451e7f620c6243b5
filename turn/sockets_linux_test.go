package turn

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSocketBuffers: listener and relay sockets ask for larger buffers than the default, as
// far as net.core.rmem_max lets them (Linux reports twice the size asked for).
func TestSocketBuffers(t *testing.T) {
	raw, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no /proc/sys/net/core/rmem_max")
	}
	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	rcvbuf := func(pc net.PacketConn) int {
		sc, err := pc.(syscall.Conn).SyscallConn()
		require.NoError(t, err)
		var n int
		var serr error
		require.NoError(t, sc.Control(func(fd uintptr) { n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) }))
		require.NoError(t, serr)
		return n
	}
	ts := startServer(t, nil)
	assert.Equal(t, 2*min(listenerSocketBuffer, rmemMax), rcvbuf(ts.udp[0].PacketConn))

	u, p := ts.creds("buffers", time.Minute)
	relay, err := newPionClient(t, ts, "udp", u, p).Allocate()
	require.NoError(t, err)
	defer relay.Close()
	ts.relays.mu.Lock()
	var conns []*relayPacketConn
	for _, c := range ts.relays.udpByAdv {
		conns = append(conns, c)
	}
	ts.relays.mu.Unlock()
	require.Len(t, conns, 1)
	assert.Equal(t, 2*min(relaySocketBuffer, rmemMax), rcvbuf(conns[0].PacketConn))
}
