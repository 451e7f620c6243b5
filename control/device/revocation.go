package device

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/kvmrelay/kvmrelay/control/ca"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// revocationTimeout bounds one check: the TLS handshake asks without a request context.
const revocationTimeout = 5 * time.Second

// StoreRevocations is the ca.RevocationChecker of a relay: a device is revoked when the store
// says so (Device.RevokedAt) or does not know it (deleted, or never created: a certificate for
// it cannot be trusted). Any other store error is returned, and the CA fails closed on it.
// Revocation is per device; certificate serials are not tracked.
type StoreRevocations struct {
	Store store.Store
}

var _ ca.RevocationChecker = StoreRevocations{}

// Revoked implements ca.RevocationChecker.
func (s StoreRevocations) Revoked(ctx context.Context, deviceID string, _ *big.Int) (bool, error) {
	if s.Store == nil {
		return false, errors.New("device: revocation checker has no store")
	}
	ctx, cancel := context.WithTimeout(ctx, revocationTimeout)
	defer cancel()
	org, err := s.Store.Lookup(ctx, store.LookupDevice, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("device: look up %s: %w", deviceID, err)
	}
	var revoked bool
	err = s.Store.Read(ctx, org, func(tx store.Tx) error {
		d, err := tx.Device(ctx, deviceID)
		if err != nil {
			return err
		}
		revoked = d.RevokedAt != nil
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("device: read %s: %w", deviceID, err)
	}
	return revoked, nil
}
