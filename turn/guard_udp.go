package turn

import (
	"net"
)

// guardPacketConn is one UDP listener socket as pion sees it: every datagram passes the
// guard first. Writes go straight through.
type guardPacketConn struct {
	net.PacketConn
	s     *Server
	index int       // among the sockets sharing the port
	in    inspector // pion's read loop is this socket's only reader
}

func (c *guardPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if !c.s.ops.enter() {
		return 0, nil, net.ErrClosed
	}
	defer c.s.ops.exit()
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.s.cfg.hooks.noGuard {
			return n, addr, err
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
