package turn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/reuseport"
)

// sockets opens every socket the server uses — its listeners, the allocations' relay sockets
// and the outbound connections of RFC 6062 Connect — so that one switch (Config.Net) moves the
// whole server between the OS's network and an injected one such as pion's vnet. Nothing else
// in this package may open a socket.
type sockets interface {
	// listenPacket opens a UDP socket. shared sets SO_REUSEPORT so several sockets can take
	// the same port (only where sharesPorts says so).
	listenPacket(ctx context.Context, network, addr string, shared bool) (net.PacketConn, error)
	// listen opens a TCP listener. shared sets SO_REUSEPORT so Connect can dial out from the
	// listener's address (RFC 6062 §5.2). errNoTCP: the network cannot do TCP.
	listen(ctx context.Context, network, addr string, shared bool) (net.Listener, error)
	// dial connects to remote from local (a listener's address opened with shared).
	dial(ctx context.Context, network string, local net.Addr, remote netip.AddrPort) (net.Conn, error)
	// localAddrs lists the host's addresses (what an unspecified listen address listens on).
	localAddrs() ([]netip.Addr, error)
	// sharesPorts reports whether several UDP sockets can share one port.
	sharesPorts() bool
	// steer makes the kernel pick among the sockets of a shared port by client IP address.
	steer(group []net.PacketConn) error
}

// errNoTCP: the injected network has no TCP (pion's vnet, for one).
var errNoTCP = errors.New("turn: the injected network does not support TCP")

func newSockets(n transport.Net) sockets {
	if n == nil {
		return osSockets{}
	}
	return netSockets{n: n}
}

// osSockets are the kernel's.
type osSockets struct{}

func (osSockets) listenPacket(ctx context.Context, network, addr string, shared bool) (net.PacketConn, error) {
	lc := net.ListenConfig{}
	if shared {
		lc.Control = reusePortControl
	}
	return lc.ListenPacket(ctx, network, addr)
}

func (osSockets) listen(ctx context.Context, network, addr string, shared bool) (net.Listener, error) {
	lc := net.ListenConfig{}
	if shared {
		lc.Control = reuseport.Control
	}
	return lc.Listen(ctx, network, addr)
}

func (osSockets) dial(ctx context.Context, network string, local net.Addr, remote netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{LocalAddr: local, Control: reuseport.Control, Timeout: dialTimeout}
	return d.DialContext(ctx, network, remote.String())
}

func (osSockets) localAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("turn: interface addresses: %w", err)
	}
	return prefixAddrs(addrs), nil
}

func (osSockets) sharesPorts() bool { return reusePortSupported }

func (osSockets) steer(group []net.PacketConn) error { return steerByClientIP(group[0], len(group)) }

// netSockets go through an injected transport.Net.
//
// Only its explicit UDP and TCP calls are used: vnet's ListenConfig.Listen opens a real OS
// socket and its Dial("tcp", …) a virtual UDP one, so neither CreateListenConfig nor Dial is
// safe here. transport.Net takes no context and no socket options: dials are bounded by the
// Net itself, and SO_REUSEPORT is up to it (a Connect from a TCP allocation's own address
// works only where the Net allows that).
type netSockets struct{ n transport.Net }

func (s netSockets) listenPacket(_ context.Context, network, addr string, _ bool) (net.PacketConn, error) {
	return s.n.ListenPacket(network, addr)
}

func (s netSockets) listen(_ context.Context, network, addr string, _ bool) (net.Listener, error) {
	laddr, err := s.n.ResolveTCPAddr(network, addr)
	if err != nil {
		return nil, err
	}
	ln, err := s.n.ListenTCP(network, laddr)
	if errors.Is(err, transport.ErrNotSupported) {
		return nil, fmt.Errorf("%w: %w", errNoTCP, err)
	}
	return ln, err
}

func (s netSockets) dial(_ context.Context, network string, local net.Addr, remote netip.AddrPort) (net.Conn, error) {
	laddr, _ := local.(*net.TCPAddr)
	c, err := s.n.DialTCP(network, laddr, net.TCPAddrFromAddrPort(remote))
	if errors.Is(err, transport.ErrNotSupported) {
		return nil, fmt.Errorf("%w: %w", errNoTCP, err)
	}
	return c, err
}

func (s netSockets) localAddrs() ([]netip.Addr, error) {
	ifs, err := s.n.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("turn: interfaces of the injected network: %w", err)
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		out = append(out, prefixAddrs(addrs)...)
	}
	return out, nil
}

func (netSockets) sharesPorts() bool { return false }

func (netSockets) steer([]net.PacketConn) error { return transport.ErrNotSupported }

// prefixAddrs turns interface addresses ("10.0.0.1/24" as *net.IPNet or *net.IPAddr) into
// normalized addresses.
func prefixAddrs(addrs []net.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		default:
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, normalize(p.Addr()))
			}
			continue
		}
		if addr := addrFromIP(ip); addr.IsValid() {
			out = append(out, addr)
		}
	}
	return out
}

// Socket buffer sizes asked for (the kernel caps them at net.core.rmem_max / wmem_max). The
// default (~208 KiB) holds only a few hundred small datagrams, since each costs its buffer
// plus ~600 bytes of overhead: a listener socket, which carries every client of its read
// loop, overflows on the first scheduling hiccup under load, and a relay socket on a video
// keyframe's burst.
const (
	listenerSocketBuffer = 4 << 20
	relaySocketBuffer    = 1 << 20
)

// setSocketBuffers asks for size bytes of receive and send buffer on pc, where pc has them.
// Failure is not fatal: the socket works with the default.
func setSocketBuffers(pc net.PacketConn, size int) error {
	b, ok := pc.(interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	})
	if !ok {
		return nil
	}
	err := errors.Join(b.SetReadBuffer(size), b.SetWriteBuffer(size))
	if errors.Is(err, transport.ErrNotSupported) { // vnet
		return nil
	}
	return err
}
