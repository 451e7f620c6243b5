package fanout

import (
	"context"
	"fmt"
)

// Who holds a machine's stream, for what must happen on exactly one node per machine (the
// relay records a device on the node holding its stream: one recording across nodes).

// Holder returns the node holding m's stream lease: this node's id (Node) when it holds it,
// another node's, or "" when none does. A hub without leases (no Links) answers "": it is
// alone and holds whatever it receives.
func (h *Hub) Holder(ctx context.Context, m Machine) (string, error) {
	leases := h.leases()
	if leases == nil {
		return "", nil
	}
	holder, err := leases.StreamHolder(ctx, leaseKey(normalize(m)))
	if err != nil {
		return "", fmt.Errorf("fanout: %s's stream holder: %w", m.Device, err)
	}
	return holder, nil
}

// Node is this node's id in stream leases, "" for a hub without Links.
func (h *Hub) Node() string {
	if h.cfg.Links == nil {
		return ""
	}
	return h.cfg.Links.Node()
}

// Holding reports whether this node receives m's stream from its agent now, as the holder of
// its lease (a hub without leases: whenever it receives the stream at all). False while the
// stream comes from another node over a node link, or is not received here.
func (h *Hub) Holding(m Machine) bool {
	h.mu.Lock()
	s := h.streams[normalize(m)]
	h.mu.Unlock()
	if s == nil {
		return false
	}
	if h.leases() == nil {
		return true
	}
	return s.up.holding.Load()
}

// normalize names a machine served by its own agent with an empty Agent, as the hub keys it.
func normalize(m Machine) Machine {
	if m.Agent == m.Device {
		m.Agent = ""
	}
	return m
}
