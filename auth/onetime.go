package auth

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrAlreadyUsed is returned when a one-time login is presented a second time.
var ErrAlreadyUsed = errors.New("one-time login already used")

// OneTime remembers which one-time logins were redeemed, until they would have expired anyway,
// so each redeems exactly once. It lives in one relay process: the control plane moves it to
// the shared store.
type OneTime struct {
	mu   sync.Mutex
	used map[string]time.Time // jti → expiry
	now  func() time.Time
}

// NewOneTime makes an empty OneTime; now nil means time.Now.
func NewOneTime(now func() time.Time) *OneTime {
	if now == nil {
		now = time.Now
	}
	return &OneTime{used: make(map[string]time.Time), now: now}
}

// Redeem verifies a login token and marks it used; a second Redeem of the same token fails.
func (o *OneTime) Redeem(iss *Issuer, token string) (Claims, error) {
	c, err := iss.Verify(token, AudienceLogin)
	if err != nil {
		return Claims{}, err
	}
	if c.ID == "" {
		return Claims{}, fmt.Errorf("%w: one-time login without jti", ErrInvalidToken)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	for id, exp := range o.used {
		if now.After(exp.Add(maxSkew)) {
			delete(o.used, id)
		}
	}
	if _, seen := o.used[c.ID]; seen {
		return Claims{}, ErrAlreadyUsed
	}
	o.used[c.ID] = c.ExpiresAt
	return c, nil
}
