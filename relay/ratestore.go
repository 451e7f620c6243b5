package relay

import (
	"strings"
	"sync"
	"time"
)

// rateStore is the rate limiter's storage: a map with expiry and no background goroutine
// (fiber's default memory storage starts a collector that never stops, one per relay).
// Expired entries are dropped lazily, and the map is bounded so a flood of client addresses
// cannot grow it without limit.
type rateStore struct {
	mu      sync.Mutex
	entries map[string]rateEntry
	now     func() time.Time
}

type rateEntry struct {
	val []byte
	exp time.Time
}

// maxRateEntries bounds tracked client addresses; past it, expired entries are swept and, if
// still full, the store starts over (limits reset, which errs toward availability).
const maxRateEntries = 100_000

func newRateStore() *rateStore {
	return &rateStore{entries: make(map[string]rateEntry), now: time.Now}
}

func (s *rateStore) Get(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		return nil, nil
	}
	if !e.exp.IsZero() && s.now().After(e.exp) {
		delete(s.entries, key)
		return nil, nil
	}
	return e.val, nil
}

func (s *rateStore) Set(key string, val []byte, exp time.Duration) error {
	if key == "" || len(val) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) >= maxRateEntries {
		s.sweepLocked()
	}
	e := rateEntry{val: append([]byte(nil), val...)}
	if exp > 0 {
		e.exp = s.now().Add(exp)
	}
	// The limiter's key is fiber's c.IP(), which points into a buffer fasthttp reuses for the
	// next request: kept as it is, the map key would change under the map.
	s.entries[strings.Clone(key)] = e
	return nil
}

func (s *rateStore) sweepLocked() {
	now := s.now()
	for k, e := range s.entries {
		if !e.exp.IsZero() && now.After(e.exp) {
			delete(s.entries, k)
		}
	}
	if len(s.entries) >= maxRateEntries {
		s.entries = make(map[string]rateEntry)
	}
}

func (s *rateStore) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, key)
	return nil
}

func (s *rateStore) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = make(map[string]rateEntry)
	return nil
}

func (s *rateStore) Close() error { return nil }
