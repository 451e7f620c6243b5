//go:build !linux

package turn

import "net"

// Relay loops are Linux only (relay_loop_linux.go): elsewhere pion's goroutine of each
// allocation reads its relay socket.
type relayLoops struct{}

func newRelayLoops(*Server) (*relayLoops, error) { return nil, nil }

func (*relayLoops) attach(*relayPacketConn, net.PacketConn) (*loopConn, error) {
	return nil, errNotKernelSocket
}

func (*relayLoops) stop() {}

func (*relayLoops) sockets() int { return 0 }

type loopConn struct {
	net.PacketConn
	raw *rawUDP
}

func (*loopConn) leave() {}
