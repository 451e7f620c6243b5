package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/signaling"
)

// Links are what a hub needs to share streams with the other relay nodes (*signaling.Server).
type Links interface {
	// Node is this node's id.
	Node() string
	// StreamLeases are the shared registry's leases; nil: this node is alone (it holds every
	// stream it receives).
	StreamLeases() signaling.StreamLeases
	// StartStreamLink asks holder, another node, for a machine's stream.
	StartStreamLink(ctx context.Context, holder string, t signaling.UplinkTarget) (*signaling.StreamLink, error)
}

// errNotHolder refuses a node link to a node that does not hold the machine's stream.
var errNotHolder = errors.New("fanout: this node does not hold the machine's stream")

// leases returns the hub's stream leases, nil when it has none.
func (h *Hub) leases() signaling.StreamLeases {
	if h.cfg.Links == nil {
		return nil
	}
	return h.cfg.Links.StreamLeases()
}

// leaseKey names m in stream leases.
func leaseKey(m Machine) string { return signaling.StreamKey(m.Device, m.Agent, m.Target) }

// claim makes this node the holder of m's stream unless another node holds it, and returns
// the holder ("" for this node).
func (h *Hub) claim(ctx context.Context, m Machine) (string, error) {
	leases := h.leases()
	if leases == nil {
		return "", nil
	}
	node := h.cfg.Links.Node()
	holder, err := leases.ClaimStream(ctx, leaseKey(m), node, h.cfg.LeaseTTL)
	if err != nil {
		return "", fmt.Errorf("fanout: claim %s's stream: %w", m.Device, err)
	}
	if holder == node {
		return "", nil
	}
	return holder, nil
}

// attempt runs one connection of the held stream: from the agent while this node holds the
// machine's lease (renewed meanwhile; a lost lease ends the uplink), or from the holding node
// while it holds it (watched; a lease that moved or expired ends the link).
func (u *upstream) attempt(ctx context.Context) (bool, error) {
	h := u.hub
	m := u.held.machine
	holder, err := h.claim(ctx, m)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if holder == "" {
		if leases := h.leases(); leases != nil {
			u.holding.Store(true)
			var keeping sync.WaitGroup
			defer func() { cancel(); keeping.Wait() }()
			keeping.Go(func() { u.keepLease(ctx, cancel, leases) })
		}
		return u.once(ctx, func(ctx context.Context, t signaling.UplinkTarget) (uplinkSession, error) {
			return h.cfg.Uplinks.StartUplink(ctx, t)
		}, false)
	}
	// A lease held by an earlier attempt is not this node's any more (Holding, releaseLease).
	u.holding.Store(false)
	u.log.Info("the stream is held by another node; receiving it from there", "holder", holder)
	var watching sync.WaitGroup
	defer func() { cancel(); watching.Wait() }()
	watching.Go(func() { u.watchHolder(ctx, cancel, holder) })
	return u.once(ctx, func(ctx context.Context, t signaling.UplinkTarget) (uplinkSession, error) {
		return h.cfg.Links.StartStreamLink(ctx, holder, t)
	}, true)
}

// keepLease renews this node's lease every third of its lifetime until ctx ends; it cancels
// when the lease is lost (it expired and another node claimed it) or could not be renewed
// for a whole lifetime (the registry is unreachable: another node may take over).
func (u *upstream) keepLease(ctx context.Context, cancel context.CancelFunc, leases signaling.StreamLeases) {
	ttl := u.hub.cfg.LeaseTTL
	key, node := leaseKey(u.held.machine), u.hub.cfg.Links.Node()
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ok, err := leases.RenewStream(ctx, key, node, ttl)
		switch {
		case err == nil && ok:
			renewed = time.Now()
		case err == nil:
			u.holding.Store(false)
			u.log.Warn("this node's lease on the stream was lost; ending its uplink")
			cancel()
			return
		case time.Since(renewed) >= ttl:
			u.holding.Store(false)
			u.log.Warn("the stream's lease could not be renewed; ending its uplink", "err", err)
			cancel()
			return
		default:
			u.log.Debug("stream lease not renewed", "err", err)
		}
	}
}

// watchHolder checks every third of a lease's lifetime that holder still holds the stream;
// it cancels once another node (or none) does.
func (u *upstream) watchHolder(ctx context.Context, cancel context.CancelFunc, holder string) {
	leases := u.hub.leases()
	key := leaseKey(u.held.machine)
	tick := time.NewTicker(u.hub.cfg.LeaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur, err := leases.StreamHolder(ctx, key)
		if err != nil {
			u.log.Debug("stream holder unknown", "err", err)
			continue
		}
		if cur != holder {
			u.log.Info("the stream's holder changed; ending the node link", "holder", holder, "now", cur)
			cancel()
			return
		}
	}
}

// releaseLease gives up this node's lease when the stream stops, so another node takes the
// machine at once rather than after the lease expires.
func (u *upstream) releaseLease() {
	leases := u.hub.leases()
	if leases == nil || !u.holding.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := leases.ReleaseStream(ctx, leaseKey(u.held.machine), u.hub.cfg.Links.Node()); err != nil {
		u.log.Warn("stream lease not released; it expires", "err", err)
	}
}
