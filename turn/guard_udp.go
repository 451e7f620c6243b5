package turn

import (
	"net"
)

// guardPacketConn is one UDP listener socket as pion sees it: every datagram passes the
// guard first, but for ChannelData the fast path relays itself (fastpath.go). Writes go
// straight through.
type guardPacketConn struct {
	net.PacketConn
	s     *Server
	index int       // among the sockets sharing the port
	in    inspector // pion's read loop is this socket's only reader
	raw   *rawUDP   // nil: not a kernel socket
}

// WriteTo sends pion's answers and the datagrams relayed to the client.
func (c *guardPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if n, ok := c.raw.writeTo(p, addr); ok {
		return n, nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *guardPacketConn) Close() error {
	c.raw.close()
	return c.PacketConn.Close()
}

func (c *guardPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if !c.s.ops.enter() {
		return 0, nil, net.ErrClosed
	}
	defer c.s.ops.exit()
	for {
		var (
			n    int
			addr net.Addr
			err  error
		)
		if c.raw != nil {
			frame, from, err := c.raw.next(len(p))
			if err != nil {
				return 0, nil, err
			}
			// pion drops a datagram that fills its buffer (it may have been cut); so does
			// the fast path.
			if !c.s.cfg.hooks.noGuard && len(frame) < len(p) && c.s.relayChannelData(frame, from) {
				if c.s.cfg.hooks.udpRead != nil {
					c.s.cfg.hooks.udpRead(c.index, c.raw.udpAddr())
				}
				continue
			}
			n, addr = copy(p, frame), c.raw.udpAddr()
		} else if n, addr, err = c.PacketConn.ReadFrom(p); err != nil {
			return n, addr, err
		}
		if c.s.cfg.hooks.noGuard {
			return n, addr, nil
		}
		v := c.s.inspect(&c.in, p[:n], addr, true)
		if v.pass {
			if c.s.cfg.hooks.udpRead != nil {
				c.s.cfg.hooks.udpRead(c.index, addr)
			}
			return n, addr, nil
		}
		if v.reply != nil {
			if _, err := c.PacketConn.WriteTo(v.reply, addr); err != nil {
				c.s.log.Debug("turn: send refusal", "client", addr.String(), "err", err)
			}
		}
	}
}
