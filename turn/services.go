package turn

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// ServicePeer is one address of a host the relay itself depends on — its database, its Redis.
// A TURN client that could relay to it would reach the relay's own back end from the Internet,
// so the policy refuses it even inside an AllowPeers range (PeerPolicy.WithServicePeers).
type ServicePeer struct {
	Service string     // what it is, for logs: "database", "redis"
	Host    string     // the host as configured (a name or a literal address), for logs
	Addr    netip.Addr // one address of Host
}

// Resolver looks up a host name's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ResolveServicePeers turns the hosts of one service into ServicePeers: a literal address
// stands for itself (a zone and an IPv4-mapped form are dropped), a name stands for every
// address r finds for it now (a name that later points elsewhere is not followed: restart the
// relay), and "" or a unix socket path (starting with "/" or "@") is skipped. Addresses come
// out once each, in order.
func ResolveServicePeers(ctx context.Context, r Resolver, service string, hosts ...string) ([]ServicePeer, error) {
	var out []ServicePeer
	seen := map[netip.Addr]bool{}
	add := func(host string, a netip.Addr) {
		a = a.WithZone("").Unmap()
		if !seen[a] {
			seen[a] = true
			out = append(out, ServicePeer{Service: service, Host: host, Addr: a})
		}
	}
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if h == "" || strings.HasPrefix(h, "/") || strings.HasPrefix(h, "@") {
			continue
		}
		if a, err := netip.ParseAddr(h); err == nil {
			add(h, a)
			continue
		}
		addrs, err := r.LookupNetIP(ctx, "ip", h)
		if err != nil {
			return nil, fmt.Errorf("turn: resolve %s host %q to refuse it as a peer: %w", service, h, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("turn: resolve %s host %q to refuse it as a peer: no addresses", service, h)
		}
		for _, a := range addrs {
			add(h, a)
		}
	}
	return out, nil
}

func serviceAddrs(peers []ServicePeer) []netip.Addr {
	out := make([]netip.Addr, 0, len(peers))
	for _, p := range peers {
		out = append(out, p.Addr)
	}
	return out
}

// logServicePeers says, once at start, which service hosts the policy refuses and which an
// operator allowed by name.
func (s *Server) logServicePeers() {
	for _, p := range s.cfg.ServicePeers {
		if s.policy.ServiceAllowed(p.Addr) {
			s.log.Warn("turn: a service host of this relay may be relayed to: AllowPeers names it exactly",
				"service", p.Service, "host", p.Host, "addr", p.Addr.String())
			continue
		}
		s.log.Info("turn: refusing peers at a service host of this relay",
			"service", p.Service, "host", p.Host, "addr", p.Addr.String())
	}
}
