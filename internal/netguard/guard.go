package netguard

import (
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for Config's zero values.
const (
	DefaultMaxPerAddress    = 256
	DefaultFirstByteTimeout = 10 * time.Second
	// minReserve descriptors stay outside the budget however low the limit: a few database
	// and Redis connections, the data directory's files, a health check.
	minReserve = 64
	// minBudget refuses a descriptor limit so low that the relay could not serve at all.
	minBudget = 16
)

// ErrConfig wraps a Config that cannot work.
var ErrConfig = errors.New("netguard: bad configuration")

// Config configures a Guard. The zero value guards with the defaults.
type Config struct {
	// MaxPerAddress caps concurrent connections from one client address (an IPv6 address by
	// its /64) across all guarded listeners; 0 means DefaultMaxPerAddress, negative no cap.
	MaxPerAddress int
	// Budget caps connections across all guarded listeners; 0 derives it from the process's
	// descriptor limit minus Reserve.
	Budget int
	// Reserve is how many descriptors stay outside the budget for everything else the
	// process opens; 0 means max(64, limit/8).
	Reserve int
	// FirstByteTimeout closes a connection that has sent nothing for this long after it was
	// accepted; 0 means DefaultFirstByteTimeout.
	FirstByteTimeout time.Duration
	// Exempt addresses (trusted reverse proxies) have no per-address cap.
	Exempt []netip.Prefix
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Guard is the shared state of every listener it wraps: the budget, the per-address counts and
// the connections that may be evicted, oldest first.
type Guard struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	mu        sync.Mutex
	open      int
	perAddr   map[netip.Addr]int
	silent    *list.List // *Conn that never sent a byte, oldest first
	unproven  *list.List // *Conn that talked but was never trusted, oldest first
	closeOnce sync.Once

	spareMu sync.Mutex
	spare   *os.File // a descriptor held back to accept-and-close while exhausted
}

// New makes a Guard. The budget comes from Config or from RLIMIT_NOFILE.
func New(cfg Config) (*Guard, error) {
	if cfg.MaxPerAddress == 0 {
		cfg.MaxPerAddress = DefaultMaxPerAddress
	}
	if cfg.FirstByteTimeout == 0 {
		cfg.FirstByteTimeout = DefaultFirstByteTimeout
	}
	if cfg.FirstByteTimeout < 0 || cfg.Budget < 0 || cfg.Reserve < 0 {
		return nil, fmt.Errorf("%w: negative budget, reserve or first-byte timeout", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Budget == 0 {
		limit, err := descriptorLimit()
		if err != nil {
			return nil, fmt.Errorf("netguard: read the descriptor limit: %w", err)
		}
		reserve := cfg.Reserve
		if reserve == 0 {
			reserve = max(minReserve, limit/8)
		}
		cfg.Budget = limit - reserve
		if cfg.Budget < minBudget {
			return nil, fmt.Errorf("%w: the descriptor limit (%d) leaves %d connections after a reserve of %d; "+
				"raise it (ulimit -n, LimitNOFILE= in the systemd unit) or lower the reserve", ErrConfig, limit, cfg.Budget, reserve)
		}
	}
	g := &Guard{
		cfg:      cfg,
		log:      cfg.Logger,
		perAddr:  make(map[netip.Addr]int),
		silent:   list.New(),
		unproven: list.New(),
	}
	g.metrics = newMetrics(cfg.Registerer, g)
	g.spare, _ = os.Open(os.DevNull) // best effort: without it, exhaustion only backs off
	return g, nil
}

// MaxPerAddress is the cap per client address in effect (negative: none).
func (g *Guard) MaxPerAddress() int { return g.cfg.MaxPerAddress }

// FirstByteTimeout is how long a connection may stay silent after it was accepted.
func (g *Guard) FirstByteTimeout() time.Duration { return g.cfg.FirstByteTimeout }

// Budget is the number of connections the guarded listeners may hold together.
func (g *Guard) Budget() int { return g.cfg.Budget }

// Open is the number of connections the guarded listeners hold now.
func (g *Guard) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// Close releases the spare descriptor and unregisters the metrics. Connections stay with
// their owners; listeners are closed by theirs.
func (g *Guard) Close() {
	g.closeOnce.Do(func() {
		g.spareMu.Lock()
		if g.spare != nil {
			_ = g.spare.Close()
			g.spare = nil
		}
		g.spareMu.Unlock()
		g.metrics.unregister(g.cfg.Registerer)
	})
}

// addressKey is what the per-address cap counts by: IPv4 (4in6 unmapped) as is, IPv6 by /64.
func addressKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, err := a.Prefix(64)
		if err == nil {
			return p.Addr()
		}
	}
	return a
}

func (g *Guard) exempt(a netip.Addr) bool {
	for _, p := range g.cfg.Exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refusal is why admit turned a connection away.
type refusal string

const (
	refusedPerAddress  refusal = "per_address"
	refusedBudget      refusal = "budget"
	refusedEvicted     refusal = "evicted"
	refusedIdle        refusal = "first_byte_timeout"
	refusedDescriptors refusal = "descriptors_exhausted"
)

// admit accounts for c, evicting the oldest unproven connection if the budget is spent. It
// returns the connection to close (evicted, outside the lock) or the reason c is refused.
func (g *Guard) admit(c *Conn) (evicted *Conn, why refusal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.addrOK && g.cfg.MaxPerAddress > 0 && !g.exempt(c.addr) && g.perAddr[c.key] >= g.cfg.MaxPerAddress {
		return nil, refusedPerAddress
	}
	if g.open >= g.cfg.Budget {
		if evicted = g.evictLocked(); evicted == nil {
			return nil, refusedBudget
		}
	}
	g.open++
	if c.addrOK {
		g.perAddr[c.key]++
	}
	c.elem = g.silent.PushBack(c)
	c.tier = g.silent
	return evicted, ""
}

// evictLocked takes the oldest connection that never spoke, else the oldest that never
// proved itself, out of the accounts; the caller closes it.
func (g *Guard) evictLocked() *Conn {
	for _, l := range []*list.List{g.silent, g.unproven} {
		if e := l.Front(); e != nil {
			victim := e.Value.(*Conn) //nolint:forcetypeassert // only *Conn are stored
			g.releaseLocked(victim)
			return victim
		}
	}
	return nil
}

// evictOne frees a descriptor for a pending connection while the process is out of them.
func (g *Guard) evictOne() bool {
	g.mu.Lock()
	victim := g.evictLocked()
	g.mu.Unlock()
	if victim == nil {
		return false
	}
	g.closeEvicted(victim)
	return true
}

// closeEvicted closes a connection evictLocked took out of the accounts, counting it. Its
// owner's next read fails; its Close then has nothing left to give back.
func (g *Guard) closeEvicted(victim *Conn) {
	g.metrics.refused(victim.l.name, refusedEvicted)
	_ = victim.Conn.Close()
}

// releaseLocked takes c out of the accounts once.
func (g *Guard) releaseLocked(c *Conn) {
	if c.released {
		return
	}
	c.released = true
	g.open--
	if c.addrOK {
		if n := g.perAddr[c.key] - 1; n > 0 {
			g.perAddr[c.key] = n
		} else {
			delete(g.perAddr, c.key)
		}
	}
	if c.tier != nil {
		c.tier.Remove(c.elem)
		c.tier, c.elem = nil, nil
	}
}

func (g *Guard) release(c *Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.releaseLocked(c)
}

// spoke moves c from the never-spoke tier to the unproven one.
func (g *Guard) spoke(c *Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.released || c.tier != g.silent {
		return
	}
	g.silent.Remove(c.elem)
	c.elem = g.unproven.PushBack(c)
	c.tier = g.unproven
}

// trust takes c out of eviction for good.
func (g *Guard) trust(c *Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.released || c.tier == nil {
		return
	}
	c.tier.Remove(c.elem)
	c.tier, c.elem = nil, nil
}

// shed accepts one pending connection with the spare descriptor and closes it at once, so a
// client waiting in the backlog is told now instead of timing out, and the spare is taken back.
// It reports whether it could.
func (g *Guard) shed(accept func() error) bool {
	g.spareMu.Lock()
	defer g.spareMu.Unlock()
	if g.spare == nil {
		return false
	}
	_ = g.spare.Close()
	err := accept()
	g.spare, _ = os.Open(os.DevNull)
	return err == nil
}
