package accounts

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst attempts at once, then one per Every.
type Limit struct {
	Every time.Duration
	Burst int
}

// Limits are the rate limits on unauthenticated entry points. A zero Limit takes the default.
type Limits struct {
	LoginPerAddr Limit // per client address (IPv6: per /64)
	// LoginPerAccount is per organization and email, whether or not the user exists, for
	// clients the account does not trust (see throttle.go).
	LoginPerAccount   Limit
	RefreshPerAddr    Limit
	RefreshPerAccount Limit // per user, counted once the token is known to be genuine
	MFAPerAccount     Limit // TOTP confirm/disable attempts per user
	TokenPerAddr      Limit // invitation and password reset links redeemed per client address
	// UnknownUserAudit budgets, per organization, the failed logins for emails that are not
	// its users that are written to its audit chain; beyond it they are only logged, so a
	// flood of made-up emails neither grows the chain nor queues every login behind its
	// writes. Failures of real users are always audited.
	UnknownUserAudit Limit
	// MaxKeys bounds each limiter's memory; the least recently used key is evicted first.
	MaxKeys int
}

func (l Limits) withDefaults() Limits {
	def := func(v *Limit, every time.Duration, burst int) {
		if v.Every <= 0 || v.Burst <= 0 {
			*v = Limit{Every: every, Burst: burst}
		}
	}
	def(&l.LoginPerAddr, 3*time.Second, 20)
	def(&l.LoginPerAccount, 5*time.Second, 10)
	def(&l.RefreshPerAddr, time.Second, 30)
	def(&l.RefreshPerAccount, 2*time.Second, 10)
	def(&l.MFAPerAccount, 10*time.Second, 5)
	def(&l.TokenPerAddr, 10*time.Second, 10)
	def(&l.UnknownUserAudit, time.Second, 60)
	if l.MaxKeys <= 0 {
		l.MaxKeys = 10000
	}
	return l
}

// keyedLimiter is a token bucket per key with LRU eviction, so memory stays bounded however
// many addresses or names an attacker makes up. Evicting a key forgets its debt: the cap is
// set far above the number of legitimate keys active within one bucket's refill time.
type keyedLimiter struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	max   int
	order *list.List // of *limiterEntry, most recently used first
	byKey map[string]*list.Element
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

func newKeyedLimiter(l Limit, max int) *keyedLimiter {
	return &keyedLimiter{
		limit: rate.Every(l.Every),
		burst: l.Burst,
		max:   max,
		order: list.New(),
		byKey: make(map[string]*list.Element),
	}
}

// allow takes one token for key at now, or says how long until one is available.
func (k *keyedLimiter) allow(key string, now time.Time) (time.Duration, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var lim *rate.Limiter
	if el, ok := k.byKey[key]; ok {
		k.order.MoveToFront(el)
		lim = el.Value.(*limiterEntry).lim
	} else {
		lim = rate.NewLimiter(k.limit, k.burst)
		k.byKey[key] = k.order.PushFront(&limiterEntry{key: key, lim: lim})
		for k.order.Len() > k.max {
			oldest := k.order.Back()
			k.order.Remove(oldest)
			delete(k.byKey, oldest.Value.(*limiterEntry).key)
		}
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Minute, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

func (k *keyedLimiter) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.order.Len()
}

// addrKey reduces a client address ("host:port" or a bare host) to what one client
// controls: the IPv4 address, or the IPv6 /64. Unparseable input is used as given, capped.
func addrKey(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if len(host) > 64 {
			host = host[:64]
		}
		return "raw:" + host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
