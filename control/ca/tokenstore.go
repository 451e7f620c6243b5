package ca

import (
	"context"
	"sync"
	"time"
)

// TokenStore keeps enrollment token hashes with the device and expiry they were issued for.
// Consume must be atomic: of any number of concurrent calls with one hash, at most one gets
// the device id; the rest get ErrTokenUsed. Expired tokens give ErrTokenExpired, unknown ones
// ErrTokenUnknown; a store that cannot tell these apart returns ErrTokenRejected. (A SQL store
// does this with one UPDATE … WHERE used_at IS NULL AND expires_at > now RETURNING.)
type TokenStore interface {
	Consume(ctx context.Context, hash []byte, now time.Time) (deviceID string, err error)
}

// MemTokenStore is an in-memory TokenStore for tests and the embedded mode until the real
// store lands. Lookups are by hash of a 256-bit secret, so map timing reveals nothing useful.
type MemTokenStore struct {
	mu     sync.Mutex
	tokens map[string]*memToken
}

type memToken struct {
	deviceID string
	expires  time.Time
	used     bool
}

// NewMemTokenStore returns an empty store.
func NewMemTokenStore() *MemTokenStore {
	return &MemTokenStore{tokens: make(map[string]*memToken)}
}

// Add records a token hash for a device, valid until expires.
func (s *MemTokenStore) Add(hash []byte, deviceID string, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[string(hash)] = &memToken{deviceID: deviceID, expires: expires}
}

// Consume implements TokenStore. Used tokens are kept (until a day past expiry) so a replay
// is reported as such rather than as unknown.
func (s *MemTokenStore) Consume(ctx context.Context, hash []byte, now time.Time) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		if now.Sub(t.expires) > 24*time.Hour {
			delete(s.tokens, k)
		}
	}
	t, ok := s.tokens[string(hash)]
	switch {
	case len(hash) == 0 || !ok:
		return "", ErrTokenUnknown
	case t.used:
		return "", ErrTokenUsed
	case !now.Before(t.expires):
		return "", ErrTokenExpired
	}
	t.used = true
	return t.deviceID, nil
}
