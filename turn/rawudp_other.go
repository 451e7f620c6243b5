//go:build !linux

package turn

import (
	"net"
	"net/netip"
)

// rawUDP is Linux only (rawudp_linux.go); elsewhere every send and read takes net.UDPConn's
// path.
type rawUDP struct{}

func newRawUDP(net.PacketConn) *rawUDP { return nil }

func (*rawUDP) close() {}

func (*rawUDP) writeTo([]byte, net.Addr) (int, bool) { return 0, false }

func (*rawUDP) sendTo([]byte, netip.AddrPort) (int, bool) { return 0, false }

func (*rawUDP) next(int) ([]byte, netip.AddrPort, error) {
	return nil, netip.AddrPort{}, net.ErrClosed
}

func (*rawUDP) udpAddr() *net.UDPAddr { return nil }
