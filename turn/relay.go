package turn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// relays is the RelayAddressGenerator given to pion: it opens each allocation's relay
// socket (UDP) or listener (TCP, RFC 6062) and the outbound TCP connections of Connect.
// Everything it returns is wrapped, which makes the relay sockets the third policy layer
// (a refused peer is neither sent to nor heard from, whatever pion decided), the place where
// quota is held and released, and where bandwidth is capped and counted.
type relays struct {
	s        *Server
	bindIP   netip.Addr // relay sockets bind here; unspecified: any address of the family
	publicIP netip.Addr // advertised in XOR-RELAYED-ADDRESS
	min, max uint16     // 0, 0: ephemeral

	mu       sync.Mutex
	closed   bool
	open     map[closer]struct{}
	tcpPorts map[uint16]*relayListener // SO_REUSEPORT would let two listeners share a port
	udpByAdv map[netip.AddrPort]*relayPacketConn
}

type closer interface{ closeNow() }

// Errors of relay socket allocation; pion answers them with 508 Insufficient Capacity.
var (
	errFamily    = errors.New("turn: address family not served (see Config.PublicIP)")
	errPortRange = errors.New("turn: no free port in the relay port range")
	errNoAlloc   = errors.New("turn: Connect for an unknown TCP allocation")
	errClosed    = errors.New("turn: server closed")
)

// dialTimeout bounds Connect (RFC 6062 asks for at least 30 s).
const dialTimeout = 30 * time.Second

var _ pionturn.RelayAddressGenerator = (*relays)(nil)

func newRelays(s *Server, bindIP, publicIP netip.Addr, minPort, maxPort uint16) *relays {
	return &relays{
		s: s, bindIP: bindIP, publicIP: publicIP, min: minPort, max: maxPort,
		open:     make(map[closer]struct{}),
		tcpPorts: make(map[uint16]*relayListener),
		udpByAdv: make(map[netip.AddrPort]*relayPacketConn),
	}
}

func (r *relays) Validate() error { return nil }

// bindHost returns the host to bind relay sockets of network ("udp4", "tcp6", …) on.
func (r *relays) bindHost(network string) (string, error) {
	v6 := network[len(network)-1] == '6'
	if v6 != r.publicIP.Is6() {
		return "", fmt.Errorf("%w: %s", errFamily, network)
	}
	switch {
	case r.bindIP.IsValid() && !r.bindIP.IsUnspecified():
		return r.bindIP.String(), nil
	case v6:
		return "::", nil
	}
	return "0.0.0.0", nil
}

// ports yields the candidate ports: the requested one, 0 (ephemeral) without a range, or the
// range from a random start, at most maxTries of them.
func (r *relays) ports(requested int) []int {
	if requested != 0 {
		if r.max != 0 && (requested < int(r.min) || requested > int(r.max)) {
			return nil
		}
		return []int{requested}
	}
	if r.max == 0 {
		return []int{0, 0, 0} // a few tries: an ephemeral TCP port may collide (see listenTCP)
	}
	const maxTries = 1024
	size := int(r.max) - int(r.min) + 1
	start := rand.IntN(size) //nolint:gosec // port choice, not a secret
	out := make([]int, 0, min(size, maxTries))
	for i := 0; i < size && i < maxTries; i++ {
		out = append(out, int(r.min)+(start+i)%size)
	}
	return out
}

func (r *relays) track(c closer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.open[c] = struct{}{}
	return true
}

func (r *relays) untrack(c closer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, c)
	switch c := c.(type) {
	case *relayListener:
		if r.tcpPorts[c.port] == c {
			delete(r.tcpPorts, c.port)
		}
	case *relayPacketConn:
		if r.udpByAdv[c.adv] == c {
			delete(r.udpByAdv, c.adv)
		}
	}
}

// closeAll closes every relay socket, listener and peer connection, and refuses new ones.
func (r *relays) closeAll() {
	r.mu.Lock()
	r.closed = true
	open := r.open
	r.open = make(map[closer]struct{})
	r.mu.Unlock()
	for c := range open {
		c.closeNow()
	}
}

// AllocatePacketConn opens a UDP relay socket.
func (r *relays) AllocatePacketConn(conf pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	host, err := r.bindHost(conf.Network)
	if err != nil {
		return nil, nil, err
	}
	release, err := r.s.quota.acquire(conf.UserID)
	if err != nil {
		r.s.metrics.refuse(refusedQuota)
		return nil, nil, err
	}
	for _, port := range r.ports(conf.RequestedPort) {
		pc, err := r.s.so.listenPacket(r.s.ctx, conf.Network, net.JoinHostPort(host, strconv.Itoa(port)), false)
		if err != nil {
			continue
		}
		if err := setSocketBuffers(pc, relaySocketBuffer); err != nil {
			r.s.log.Debug("turn: relay socket buffers", "err", err)
		}
		local := pc.LocalAddr().(*net.UDPAddr)                    //nolint:forcetypeassert // ListenPacket("udp*")
		adv := netip.AddrPortFrom(r.publicIP, uint16(local.Port)) //nolint:gosec // ports fit
		c := &relayPacketConn{
			PacketConn: pc, r: r, s: r.s, adv: adv, user: conf.UserID, release: release,
			bw: newBandwidth(r.s.cfg.MaxBitsPerSecond, r.s.now), fl: r.s.metrics.flow(transportUDP),
		}
		if lc, err := r.s.loops.attach(c, pc); err == nil {
			c.PacketConn, c.raw, c.lc = lc, lc.raw, lc
		} else {
			if !errors.Is(err, errNotKernelSocket) {
				r.s.log.Warn("turn: relay socket read by its own goroutine", "err", err)
			}
			c.raw = newRawUDP(pc)
		}
		if !r.track(c) {
			_ = c.PacketConn.Close() // pc, or the loop's socket it became
			release()
			return nil, nil, errClosed
		}
		r.mu.Lock()
		r.udpByAdv[adv] = c
		r.mu.Unlock()
		if conf.UserID != "" {
			r.s.metrics.active.WithLabelValues(transportUDP).Inc()
			r.s.metrics.total.WithLabelValues(transportUDP).Inc()
		}
		return c, net.UDPAddrFromAddrPort(adv), nil
	}
	release()
	return nil, nil, errPortRange
}

// AllocateListener opens a TCP relay listener (RFC 6062). It binds with SO_REUSEPORT so
// Connect can dial out from the same address, as RFC 6062 requires.
func (r *relays) AllocateListener(conf pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	host, err := r.bindHost(conf.Network)
	if err != nil {
		return nil, nil, err
	}
	release, err := r.s.quota.acquire(conf.UserID)
	if err != nil {
		r.s.metrics.refuse(refusedQuota)
		return nil, nil, err
	}
	for _, port := range r.ports(conf.RequestedPort) {
		if port != 0 && r.tcpPortTaken(uint16(port)) { //nolint:gosec // ports fit
			continue
		}
		ln, err := r.s.so.listen(r.s.ctx, conf.Network, net.JoinHostPort(host, strconv.Itoa(port)), true)
		if errors.Is(err, errNoTCP) {
			release()
			return nil, nil, err
		}
		if err != nil {
			continue
		}
		local := ln.Addr().(*net.TCPAddr) //nolint:forcetypeassert // Listen("tcp*")
		ctx, cancel := context.WithCancel(r.s.ctx)
		l := &relayListener{
			Listener: ln, r: r, s: r.s, port: uint16(local.Port), //nolint:gosec // ports fit
			adv:  netip.AddrPortFrom(r.publicIP, uint16(local.Port)), //nolint:gosec // ports fit
			user: conf.UserID, release: release, ctx: ctx, cancel: cancel,
			bw: newBandwidth(r.s.cfg.MaxBitsPerSecond, r.s.now), fl: r.s.metrics.flow(transportTCP),
		}
		if claimed, closed := r.claimTCPPort(l); !claimed {
			cancel()
			_ = ln.Close()
			if closed {
				release()
				return nil, nil, errClosed
			}
			continue // another relay listener already has this port (SO_REUSEPORT)
		}
		if conf.UserID != "" {
			r.s.metrics.active.WithLabelValues(transportTCP).Inc()
			r.s.metrics.total.WithLabelValues(transportTCP).Inc()
		}
		return l, net.TCPAddrFromAddrPort(l.adv), nil
	}
	release()
	return nil, nil, errPortRange
}

func (r *relays) tcpPortTaken(port uint16) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tcpPorts[port] != nil
}

func (r *relays) claimTCPPort(l *relayListener) (claimed, closed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, true
	}
	if r.tcpPorts[l.port] != nil {
		return false, false
	}
	r.tcpPorts[l.port] = l
	r.open[l] = struct{}{}
	return true, false
}

// AllocateConn dials a peer for Connect from the allocation's relay address. pion passes
// the advertised relay address as LocalAddr; behind NAT (PublicIP not on this host) binding
// to it would fail, so the listener's real local address is used.
func (r *relays) AllocateConn(conf pionturn.AllocateConnConfig) (net.Conn, error) {
	adv, ok := addrPortOf(conf.LocalAddr)
	if !ok {
		return nil, errNoAlloc
	}
	r.mu.Lock()
	l := r.tcpPorts[adv.Port()]
	r.mu.Unlock()
	if l == nil || l.adv != adv {
		return nil, errNoAlloc
	}
	peer, ok := addrPortOf(conf.RemoteAddr)
	if !ok {
		return nil, errPeerRefused
	}
	if err := r.s.egress(peer); err != nil {
		return nil, err
	}
	c, err := r.s.so.dial(l.ctx, conf.Network, l.Listener.Addr(), peer)
	if err != nil {
		return nil, fmt.Errorf("turn: connect to peer %s: %w", peer, err)
	}
	return l.wrap(c)
}

// udpConn returns the UDP relay socket whose advertised address is relay, or nil.
func (r *relays) udpConn(relay net.Addr) *relayPacketConn {
	adv, ok := addrPortOf(relay)
	if _, isUDP := relay.(*net.UDPAddr); !ok || !isUDP {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.udpByAdv[adv]
}

// setPermission updates the permission mirror of the allocation whose relay address is
// relay (a *net.UDPAddr or *net.TCPAddr, as returned above).
func (r *relays) setPermission(relay net.Addr, peer netip.Addr, on bool) {
	adv, ok := addrPortOf(relay)
	if !ok {
		return
	}
	r.mu.Lock()
	var set *permSet
	switch relay.(type) {
	case *net.UDPAddr:
		if c := r.udpByAdv[adv]; c != nil {
			set = &c.permSet
		}
	case *net.TCPAddr:
		if l := r.tcpPorts[adv.Port()]; l != nil && l.adv == adv {
			set = &l.permSet
		}
	}
	r.mu.Unlock()
	if set != nil {
		allowed, _ := r.s.policy.Allowed(peer)
		set.set(peer, on, allowed)
	}
}
