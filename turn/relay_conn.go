package turn

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// relayPacketConn is one UDP allocation's relay socket. pion reads peers' datagrams from it
// (its per-allocation goroutine) and writes clients' data to peers with WriteTo (from the
// listener's read loop). On Linux a relay loop reads the socket instead (relay_loop_linux.go)
// and ReadFrom gets only what the loop leaves to pion; ChannelData takes the fast path
// (fastpath.go) in both directions.
type relayPacketConn struct {
	net.PacketConn
	r       *relays
	s       *Server
	adv     netip.AddrPort
	user    string
	release func()
	bw      *bandwidth
	fl      flow
	raw     *rawUDP   // nil: not a kernel socket
	lc      *loopConn // nil: not read by a relay loop (ReadFrom reads the socket)
	permSet

	client atomic.Pointer[clientRoute] // nil: not known, or not a UDP client (no fast path)
	chans  chanSet

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

func (c *relayPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if !c.s.ops.enter() {
		return 0, nil, net.ErrClosed
	}
	defer c.s.ops.exit()
	if c.lc != nil {
		return c.lc.ReadFrom(p) // checked and counted by the loop
	}
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if peer, ok := addrPortOf(addr); ok && c.check(peer, n) {
			c.countFrom(n)
			return n, addr, nil
		}
	}
}

// check decides on a datagram of n bytes from peer (normalized): it must have a permission,
// pass the policy and fit the bandwidth cap. Refusals and throttled bytes are counted here;
// the caller counts what it relays (countFrom).
func (c *relayPacketConn) check(peer netip.AddrPort, n int) bool {
	allowed, permitted := c.lookup(peer.Addr())
	if !permitted {
		return false // no permission: pion would drop it too
	}
	if !allowed || !c.s.portAllowed(peer) {
		_, reason := c.s.peerAllowed(peer)
		c.s.refusedPeer(peer, reason, "relay read")
		return false
	}
	if !c.bw.allow(false, n) {
		c.fl.throttledFrom.Add(float64(n))
		return false
	}
	return true
}

// countFrom counts a datagram of n bytes relayed from a peer.
func (c *relayPacketConn) countFrom(n int) {
	c.fl.bytesFrom.Add(float64(n))
	c.fl.packetsFrom.Inc()
}

func (c *relayPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	peer, ok := addrPortOf(addr)
	if !ok {
		return 0, errPeerRefused
	}
	return c.sendToPeer(p, peer, addr)
}

// sendToPeer sends p to peer (addr normalized; addr as pion has it): the policy (the
// permission's cached verdict answers for the address; anything it does not vouch for takes
// the full check), the tests' egress hook, the bandwidth cap, then the socket; counted.
func (c *relayPacketConn) sendToPeer(p []byte, peer netip.AddrPort, addr net.Addr) (int, error) {
	if allowed, _ := c.lookup(peer.Addr()); !allowed || !c.s.portAllowed(peer) {
		if ok, reason := c.s.peerAllowed(peer); !ok {
			c.s.refusedPeer(peer, reason, "relay write")
			return 0, errPeerRefused
		}
	}
	if err := c.s.egress(peer); err != nil {
		return 0, err
	}
	if !c.bw.allow(true, len(p)) {
		c.fl.throttledTo.Add(float64(len(p)))
		return len(p), nil // dropped like any datagram on a full link
	}
	n, ok := c.raw.writeTo(p, addr)
	var err error
	if !ok {
		n, err = c.PacketConn.WriteTo(p, addr)
	}
	if err == nil {
		c.fl.bytesTo.Add(float64(n))
		c.fl.packetsTo.Inc()
	}
	return n, err
}

func (c *relayPacketConn) Close() error {
	c.closeOnce.Do(func() {
		c.r.untrack(c)
		c.release()
		if c.user != "" {
			c.s.metrics.active.WithLabelValues(transportUDP).Dec()
		}
		c.closed.Store(true)
		if to := c.client.Load(); to != nil {
			c.s.udpClients.CompareAndDelete(to.addr, c)
		}
		c.raw.close()
		c.closeErr = c.PacketConn.Close()
	})
	return c.closeErr
}

func (c *relayPacketConn) closeNow() { _ = c.Close() }

// relayListener is one TCP allocation's relay listener (RFC 6062): peers connect to it, and
// Connect dials out from its address.
type relayListener struct {
	net.Listener
	r       *relays
	s       *Server
	port    uint16
	adv     netip.AddrPort
	user    string
	release func()
	bw      *bandwidth
	fl      flow
	ctx     context.Context // ends dials and bandwidth waits when the allocation closes
	cancel  context.CancelFunc
	permSet

	closeOnce sync.Once
	closeErr  error
}

func (l *relayListener) Accept() (net.Conn, error) {
	if !l.s.ops.enter() {
		return nil, net.ErrClosed
	}
	defer l.s.ops.exit()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer, ok := addrPortOf(c.RemoteAddr())
		if !ok || !l.has(peer.Addr()) {
			_ = c.Close()
			continue
		}
		if ok, reason := l.s.peerAllowed(peer); !ok {
			l.s.refusedPeer(peer, reason, "relay accept")
			_ = c.Close()
			continue
		}
		return l.wrap(c)
	}
}

// wrap tracks a peer data connection of this allocation.
func (l *relayListener) wrap(c net.Conn) (net.Conn, error) {
	pc := &peerConn{Conn: c, l: l}
	if !l.r.track(pc) {
		_ = c.Close()
		return nil, errClosed
	}
	return pc, nil
}

func (l *relayListener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.r.untrack(l)
		l.release()
		if l.user != "" {
			l.s.metrics.active.WithLabelValues(transportTCP).Dec()
		}
		l.closeErr = l.Listener.Close()
	})
	return l.closeErr
}

func (l *relayListener) closeNow() { _ = l.Close() }

// peerConn is a TCP connection between the relay and a peer (RFC 6062 peer data
// connection). pion copies between it and the client's data connection.
type peerConn struct {
	net.Conn
	l         *relayListener
	closeOnce sync.Once
	closeErr  error
}

func (c *peerConn) Read(p []byte) (int, error) {
	if !c.l.s.ops.enter() {
		return 0, net.ErrClosed
	}
	defer c.l.s.ops.exit()
	n, err := c.Conn.Read(p)
	if n > 0 {
		if delayed, werr := c.l.bw.wait(c.l.ctx, false, n); werr != nil {
			return 0, werr
		} else if delayed {
			c.l.fl.throttledFrom.Add(float64(n))
		}
		c.l.fl.bytesFrom.Add(float64(n))
		c.l.fl.packetsFrom.Inc()
	}
	return n, err
}

func (c *peerConn) Write(p []byte) (int, error) {
	if !c.l.s.ops.enter() {
		return 0, net.ErrClosed
	}
	defer c.l.s.ops.exit()
	if delayed, err := c.l.bw.wait(c.l.ctx, true, len(p)); err != nil {
		return 0, err
	} else if delayed {
		c.l.fl.throttledTo.Add(float64(len(p)))
	}
	n, err := c.Conn.Write(p)
	c.l.fl.bytesTo.Add(float64(n))
	c.l.fl.packetsTo.Inc()
	return n, err
}

func (c *peerConn) Close() error {
	c.closeOnce.Do(func() {
		c.l.r.untrack(c)
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}

func (c *peerConn) closeNow() { _ = c.Close() }
