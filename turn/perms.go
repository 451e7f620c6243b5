package turn

import (
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
)

// permSet mirrors pion's permissions of one allocation (kept up to date by pion's
// OnPermissionCreated/Deleted events), so the relay socket can drop what pion would drop
// before it is counted or charged to the bandwidth cap: otherwise anyone could drain an
// allocation's bucket by spraying its relay port.
//
// It also keeps the policy's verdict on each permitted address, decided once when the
// permission is made (the policy is immutable), so the per-datagram check is one map lookup
// instead of a walk over the policy's ranges. The map is copied on write: permissions change a
// few times in an allocation's life while datagrams flow all the time, and its readers (the
// allocation's goroutine, the listener's read loop) then share no lock.
type permSet struct {
	mu    sync.Mutex                          // serializes writers
	perms atomic.Pointer[map[netip.Addr]bool] // address → the policy allows it
}

// set adds (on) or removes a's permission; allowed is the policy's verdict on a.
func (p *permSet) set(a netip.Addr, on, allowed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := map[netip.Addr]bool{}
	if cur := p.perms.Load(); cur != nil {
		next = maps.Clone(*cur)
	}
	if on {
		next[a] = allowed
	} else {
		delete(next, a)
	}
	p.perms.Store(&next)
}

// lookup reports whether a has a permission and, if so, whether the policy allows it.
func (p *permSet) lookup(a netip.Addr) (allowed, permitted bool) {
	cur := p.perms.Load()
	if cur == nil {
		return false, false
	}
	allowed, permitted = (*cur)[a]
	return allowed, permitted
}

func (p *permSet) has(a netip.Addr) bool {
	_, ok := p.lookup(a)
	return ok
}
