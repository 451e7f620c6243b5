package turn

import (
	"net/netip"
)

// selfAddrs are the addresses that, with the TURN port, reach this server: relaying to them
// would let a client loop the relay into itself (a relayed address as a client of another
// allocation). With an unspecified listen address that is every local address.
func (s *Server) selfAddrs(listenIP, publicIP netip.Addr) map[netip.Addr]struct{} {
	self := map[netip.Addr]struct{}{publicIP: {}, listenIP: {}}
	if listenIP.IsUnspecified() {
		addrs, err := s.so.localAddrs()
		if err != nil {
			s.log.Warn("turn: cannot list local addresses; only PublicIP is refused as self", "err", err)
		}
		for _, a := range addrs {
			self[a] = struct{}{}
		}
	}
	return self
}

// peerAllowed is the full peer check where the port is known: the policy, then port 0 and
// this server's own TURN port.
func (s *Server) peerAllowed(p netip.AddrPort) (bool, string) {
	if ok, reason := s.policy.Allowed(p.Addr()); !ok {
		return false, reason
	}
	if p.Port() == 0 {
		return false, "port 0"
	}
	if !s.portAllowed(p) {
		return false, "this relay's own TURN port"
	}
	return true, ""
}

// portAllowed is the part of peerAllowed the policy does not decide: not port 0, and not
// this server's own TURN port on one of its addresses (a relay loop). p is normalized.
func (s *Server) portAllowed(p netip.AddrPort) bool {
	if p.Port() == 0 {
		return false
	}
	if p.Port() != s.port {
		return true
	}
	_, self := s.self[p.Addr()]
	return !self
}

func (s *Server) refusedPeer(p netip.AddrPort, reason, where string) {
	s.metrics.refuse(refusedPolicy)
	s.log.Warn("turn: peer refused on relay socket", "peer", p.String(), "why", reason, "where", where)
}

// egress is the tests' last safety net before anything leaves a relay socket.
func (s *Server) egress(p netip.AddrPort) error {
	if s.cfg.hooks.egress == nil {
		return nil
	}
	return s.cfg.hooks.egress(p)
}
