package ca

import (
	"context"
	"math/big"
	"sync"
)

// RevocationChecker says whether a device, or one certificate of it, is revoked. It is asked
// on every verification; an error makes the verification fail (closed). Revoking by device id
// is what matters: it covers every certificate the device was ever issued.
type RevocationChecker interface {
	Revoked(ctx context.Context, deviceID string, serial *big.Int) (bool, error)
}

// MemRevocations is an in-memory RevocationChecker for tests and the embedded mode until the
// store provides one.
type MemRevocations struct {
	mu      sync.RWMutex
	devices map[string]bool
	serials map[string]bool
}

// NewMemRevocations returns an empty list.
func NewMemRevocations() *MemRevocations {
	return &MemRevocations{devices: make(map[string]bool), serials: make(map[string]bool)}
}

// RevokeDevice revokes every certificate of a device.
func (m *MemRevocations) RevokeDevice(deviceID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.devices[deviceID] = true
}

// RevokeSerial revokes one certificate.
func (m *MemRevocations) RevokeSerial(serial *big.Int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.serials[serial.Text(16)] = true
}

// Revoked implements RevocationChecker.
func (m *MemRevocations) Revoked(_ context.Context, deviceID string, serial *big.Int) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.devices[deviceID] || (serial != nil && m.serials[serial.Text(16)]), nil
}
