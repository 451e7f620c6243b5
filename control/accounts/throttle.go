package accounts

import (
	"container/list"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// How logins are throttled, and why this way.
//
// A login attempt is checked against three things before any password is hashed:
//
//   - per client address (loginAddr): a token bucket across every account, so one address
//     cannot spray many accounts;
//   - per account and client (clientFailures): consecutive failures of this account from this
//     address (or this device cookie) make that client wait 1 s, 2 s, 4 s … up to
//     MaxFailureDelay (15 min). This is the lock, and it falls on the attacker's addresses;
//   - per account, for untrusted clients only (loginAccount bucket, accountFailures, and the
//     failure count in the store for the whole deployment): the account slows down to one
//     attempt every few seconds (MaxAccountDelay) but never locks. An attacker rotating
//     through many addresses therefore gets at most about 3600/MaxAccountDelay guesses an
//     hour at one account, and the real user is kept waiting at most MaxAccountDelay at a time.
//
// A trusted client skips the per-account slowdown entirely, so a flood at the account does not
// keep the real user out at all. Trusted is, as in OWASP's "device cookies": a client that
// presents a device token this relay minted at an earlier successful login of the same user
// (a signed cookie; its own failures lock only that token), or a client address that signed in
// successfully to this account before (remembered per node, in memory).
//
// This differs from Keycloak's brute force detection, which disables the user for every client
// after N failures (wait increment up to a maximum): the lockout the issue reproduced. OWASP's
// device-cookie scheme locks all untrusted clients; here they are only slowed, since the
// per-client locks already stop a single source.
//
// Unknown organizations and users go through the same checks (the per-account state is kept
// by organization slug and email, whether or not the account exists), so the throttling does
// not tell which accounts exist. The store's failure count exists only for real users; on one
// node the in-memory count equals it, so only an attacker comparing nodes could tell.

// DeviceTTL is how long a device token (cookie) vouches for a client.
const DeviceTTL = 90 * 24 * time.Hour

// accountDelay is how long an untrusted client waits after the account's last failure, when
// the account has n consecutive failures: failureDelay, capped at MaxAccountDelay.
func (s *Service) accountDelay(n int) time.Duration {
	return min(s.failureDelay(n), s.cfg.MaxAccountDelay)
}

// failureTracker counts consecutive failures per key (LRU-bounded, like keyedLimiter: an
// evicted key forgets its failures; the cap is far above the keys active within the longest
// delay).
type failureTracker struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *failureEntry, most recently used first
	byKey map[string]*list.Element
}

type failureEntry struct {
	key  string
	n    int
	last time.Time
}

func newFailureTracker(max int) *failureTracker {
	return &failureTracker{max: max, order: list.New(), byKey: make(map[string]*list.Element)}
}

// wait is how much longer key must wait at now, given delay(n) after its n-th failure.
func (f *failureTracker) wait(key string, now time.Time, delay func(int) time.Duration) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	el, ok := f.byKey[key]
	if !ok {
		return 0
	}
	e := el.Value.(*failureEntry)
	return e.last.Add(delay(e.n)).Sub(now)
}

// fail records a failure of key at now and returns its consecutive count.
func (f *failureTracker) fail(key string, now time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	el, ok := f.byKey[key]
	if !ok {
		el = f.order.PushFront(&failureEntry{key: key})
		f.byKey[key] = el
		for f.order.Len() > f.max {
			oldest := f.order.Back()
			f.order.Remove(oldest)
			delete(f.byKey, oldest.Value.(*failureEntry).key)
		}
	}
	f.order.MoveToFront(el)
	e := el.Value.(*failureEntry)
	e.n++
	e.last = now
	return e.n
}

func (f *failureTracker) reset(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if el, ok := f.byKey[key]; ok {
		f.order.Remove(el)
		delete(f.byKey, key)
	}
}

// knownSet remembers keys for a while (LRU-bounded): the client addresses that signed in to an
// account successfully.
type knownSet struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	order *list.List // of *knownEntry, most recently used first
	byKey map[string]*list.Element
}

type knownEntry struct {
	key string
	at  time.Time
}

func newKnownSet(max int, ttl time.Duration) *knownSet {
	return &knownSet{max: max, ttl: ttl, order: list.New(), byKey: make(map[string]*list.Element)}
}

func (k *knownSet) add(key string, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if el, ok := k.byKey[key]; ok {
		el.Value.(*knownEntry).at = now
		k.order.MoveToFront(el)
		return
	}
	k.byKey[key] = k.order.PushFront(&knownEntry{key: key, at: now})
	for k.order.Len() > k.max {
		oldest := k.order.Back()
		k.order.Remove(oldest)
		delete(k.byKey, oldest.Value.(*knownEntry).key)
	}
}

func (k *knownSet) has(key string, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	el, ok := k.byKey[key]
	return ok && now.Sub(el.Value.(*knownEntry).at) < k.ttl
}

// mintDevice makes the device token a successful login of user userID of orgID hands out.
func (s *Service) mintDevice(orgID, userID string) (string, error) {
	tok, _, err := s.issuer.Mint(auth.Claims{ID: auth.NewID("d_"), Subject: userID, Tenant: orgID, Audience: auth.AudienceDevice}, DeviceTTL)
	return tok, err
}

// trustedDevice is the id of token when it is a valid device token of user userID of orgID,
// else "".
func (s *Service) trustedDevice(token, orgID, userID string) string {
	if token == "" || len(token) > maxBearerLen || userID == "" {
		return ""
	}
	c, err := s.issuer.Verify(token, auth.AudienceDevice)
	if err != nil || c.Tenant != orgID || c.Subject != userID || c.ID == "" {
		return ""
	}
	return c.ID
}

// loginThrottle is one login attempt's place in the throttles.
type loginThrottle struct {
	account string // organization slug and email
	client  string // account and client: the address, or the device token's id
	addr    string // account and address, for knownAddrs
	trusted bool
}

// loginThrottle places an attempt of email at slug from addr (an addrKey) with a device token;
// orgID and userID are the account's when it exists.
func (s *Service) loginThrottle(slug, email, addr, deviceToken, orgID, userID string) loginThrottle {
	acct := slug + "\x00" + email
	t := loginThrottle{account: acct, client: acct + "\x00addr:" + addr, addr: acct + "\x00" + addr}
	if dev := s.trustedDevice(deviceToken, orgID, userID); dev != "" {
		t.client, t.trusted = acct+"\x00dev:"+dev, true
	} else {
		t.trusted = s.knownAddrs.has(t.addr, s.now())
	}
	return t
}

// wait is how long the attempt must wait before it is checked (0: check it now), and whether
// the client's own failures are why. u is the account's user when known.
func (t loginThrottle) wait(s *Service, u store.User, known bool, now time.Time) (time.Duration, bool) {
	if w := s.clientFailures.wait(t.client, now, s.failureDelay); w > 0 {
		return w, true
	}
	if t.trusted {
		return 0, false
	}
	w := s.accountFailures.wait(t.account, now, s.accountDelay)
	if known {
		w = max(w, s.lockout(u, now))
	}
	if w > 0 {
		return w, false
	}
	// Last, so that a refused attempt does not spend the account's token.
	if d, ok := s.loginAccount.allow(t.account, now); !ok {
		return max(d, time.Nanosecond), false
	}
	return 0, false
}

func (t loginThrottle) failed(s *Service, now time.Time) {
	s.clientFailures.fail(t.client, now)
	s.accountFailures.fail(t.account, now)
}

func (t loginThrottle) succeeded(s *Service, now time.Time) {
	s.clientFailures.reset(t.client)
	s.accountFailures.reset(t.account)
	s.knownAddrs.add(t.addr, now)
}
