package device

import (
	"slices"
	"sync"
)

// MaxGatewayLinks bounds the machines one gateway connection may report up (memory).
const MaxGatewayLinks = 100_000

// GatewayLinks holds, per gateway connection, the machines the gateway reports reachable (its
// machines reports: a full list when it connects, then changes), on the relay node holding the
// connection. The store has the same state (Tx.SetTargetLinks); this copy lets work done
// later — recording the links of machines adopted after their report — use what the gateway
// reports now. Safe for concurrent use.
type GatewayLinks struct {
	mu    sync.Mutex
	conns map[string]*gatewayConn // by connection id
}

type gatewayConn struct {
	gateway string
	up      map[string]struct{}
}

// NewGatewayLinks makes an empty GatewayLinks.
func NewGatewayLinks() *GatewayLinks { return &GatewayLinks{conns: make(map[string]*gatewayConn)} }

// Apply records one report of gateway's connection conn: reset starts its list anew, up and
// down change it. Beyond MaxGatewayLinks, further machines are ignored.
func (g *GatewayLinks) Apply(gateway, conn string, reset bool, up, down []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.conns[conn]
	if c == nil || reset || c.gateway != gateway {
		c = &gatewayConn{gateway: gateway, up: make(map[string]struct{})}
		g.conns[conn] = c
	}
	for _, t := range down {
		delete(c.up, t)
	}
	for _, t := range up {
		if len(c.up) >= MaxGatewayLinks {
			break
		}
		c.up[t] = struct{}{}
	}
}

// Gone forgets a connection that ended.
func (g *GatewayLinks) Gone(conn string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.conns, conn)
}

// Up lists the machines gateway's connections on this node report reachable, sorted.
func (g *GatewayLinks) Up(gateway string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.conns {
		if c.gateway != gateway {
			continue
		}
		for t := range c.up {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
