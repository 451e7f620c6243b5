package device

import (
	"slices"
	"sync"
)

// MaxGatewayLinks bounds the machines one gateway connection may report up (memory).
const MaxGatewayLinks = 100_000

// GatewayLinks holds, per gateway connection, the machines the gateway reports reachable (its
// machines reports: a full list in parts when it connects, then changes), on the relay node
// holding the connection. The store has the links too (Tx.SetTargetLinks, written per
// change); this copy tells, once a full list is complete, which machines the store still has
// up that the list left out, and lets work done later — recording the links of machines
// adopted after their report — use what the gateway reports now. Safe for concurrent use.
type GatewayLinks struct {
	mu    sync.Mutex
	conns map[string]*gatewayConn // by connection id
}

type gatewayConn struct {
	gateway string
	up      map[string]struct{}
	// listing: a full list has started and its last part has not come yet.
	listing bool
}

// NewGatewayLinks makes an empty GatewayLinks.
func NewGatewayLinks() *GatewayLinks { return &GatewayLinks{conns: make(map[string]*gatewayConn)} }

// Apply records one report of gateway's connection conn: reset starts a full list anew, more
// says further parts of it follow, up and down change the list. It reports whether this report
// completed a full list (then the caller marks down what the list left out). Beyond
// MaxGatewayLinks, further machines are ignored.
func (g *GatewayLinks) Apply(gateway, conn string, reset, more bool, up, down []string) (listed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.conns[conn]
	if c == nil || reset || c.gateway != gateway {
		c = &gatewayConn{gateway: gateway, up: make(map[string]struct{}), listing: reset}
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
	if c.listing && !more {
		c.listing = false
		return true
	}
	return false
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

// Unlisted returns the targets of stored that gateway's connections do not report up: after a
// full list, the machines whose links went down while the gateway was away.
func (g *GatewayLinks) Unlisted(gateway string, stored []string) []string {
	up := map[string]bool{}
	for _, t := range g.Up(gateway) {
		up[t] = true
	}
	var out []string
	for _, t := range stored {
		if !up[t] {
			out = append(out, t)
		}
	}
	return out
}
