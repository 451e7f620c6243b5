package signaling

import (
	"context"
	"time"
)

// Stream leases (fan-out across nodes): exactly one relay node at a time receives a machine's
// video from its agent and is the one the other nodes get the stream from. It holds a lease in
// the shared registry, refreshed while it relays the stream, that expires on its own when the
// node dies, so that another node can take the machine over within a lease's lifetime.

// StreamLeases records which relay node holds each machine's stream. The in-memory registry
// serves one node; redisbus's Registry serves a cluster.
type StreamLeases interface {
	// ClaimStream makes node the holder of key for ttl when nobody holds it (or node does, whose
	// lease is extended) and returns the holder: node, or the other node that holds key.
	ClaimStream(ctx context.Context, key, node string, ttl time.Duration) (holder string, err error)
	// RenewStream extends node's lease on key to ttl from now; false when node no longer holds
	// it (it expired, and another node may have claimed it).
	RenewStream(ctx context.Context, key, node string, ttl time.Duration) (bool, error)
	// ReleaseStream ends node's lease on key; another node's lease is left alone.
	ReleaseStream(ctx context.Context, key, node string) error
	// StreamHolder returns the node holding key, empty when none does.
	StreamHolder(ctx context.Context, key string) (string, error)
}

// StreamKey names a machine in stream leases: its device, and for a machine behind a gateway
// the gateway's device and the machine's address on it.
func StreamKey(device, agent, target string) string {
	if agent == "" || agent == device {
		return device
	}
	return device + "|" + agent + "|" + target
}

// memoryLease is one lease of the in-memory registry.
type memoryLease struct {
	node    string
	expires time.Time
}

// leaseLocked returns key's live lease, forgetting an expired one.
func (r *MemoryRegistry) leaseLocked(key string, now time.Time) (memoryLease, bool) {
	l, ok := r.leases[key]
	if ok && !now.Before(l.expires) {
		delete(r.leases, key)
		return memoryLease{}, false
	}
	return l, ok
}

// ClaimStream implements StreamLeases.
func (r *MemoryRegistry) ClaimStream(_ context.Context, key, node string, ttl time.Duration) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if l, ok := r.leaseLocked(key, now); ok && l.node != node {
		return l.node, nil
	}
	r.leases[key] = memoryLease{node: node, expires: now.Add(ttl)}
	return node, nil
}

// RenewStream implements StreamLeases.
func (r *MemoryRegistry) RenewStream(_ context.Context, key, node string, ttl time.Duration) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if l, ok := r.leaseLocked(key, now); !ok || l.node != node {
		return false, nil
	}
	r.leases[key] = memoryLease{node: node, expires: now.Add(ttl)}
	return true, nil
}

// ReleaseStream implements StreamLeases.
func (r *MemoryRegistry) ReleaseStream(_ context.Context, key, node string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.leaseLocked(key, time.Now()); ok && l.node == node {
		delete(r.leases, key)
	}
	return nil
}

// StreamHolder implements StreamLeases.
func (r *MemoryRegistry) StreamHolder(_ context.Context, key string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, _ := r.leaseLocked(key, time.Now())
	return l.node, nil
}

// StreamLeases returns the registry's stream leases, nil when it keeps none (each node then
// receives its machines' streams itself).
func (s *Server) StreamLeases() StreamLeases {
	l, _ := s.cfg.Registry.(StreamLeases)
	return l
}

// Node is this relay node's id, as stream leases and node links name it.
func (s *Server) Node() string { return s.node }
