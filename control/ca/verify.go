package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"
)

// Device is a verified agent identity.
type Device struct {
	ID       string
	Serial   *big.Int
	NotAfter time.Time
	Cert     *x509.Certificate
}

// Verify checks a presented chain (leaf first; anything after the leaf is ignored, since the
// root signs leaves directly) against the root at time now: client-auth usage, P-384 key, a
// CN that is a valid device id matching the one URI SAN, and not revoked.
func (c *CA) Verify(ctx context.Context, chain []*x509.Certificate, now time.Time) (Device, error) {
	if len(chain) == 0 || chain[0] == nil {
		return Device{}, ErrNoCertificate
	}
	leaf := chain[0]
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:       c.pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return Device{}, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	if err := checkLeafShape(leaf); err != nil {
		return Device{}, err
	}
	id := leaf.Subject.CommonName
	if err := c.checkRevoked(ctx, id, leaf.SerialNumber); err != nil {
		return Device{}, err
	}
	return Device{ID: id, Serial: leaf.SerialNumber, NotAfter: leaf.NotAfter, Cert: leaf}, nil
}

// checkLeafShape refuses anything this CA would not have issued, even if signed by it.
func checkLeafShape(leaf *x509.Certificate) error {
	if leaf.IsCA {
		return fmt.Errorf("%w: leaf is a CA", ErrUntrusted)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P384() {
		return fmt.Errorf("%w: key is not EC P-384", ErrUntrusted)
	}
	for _, u := range leaf.ExtKeyUsage {
		if u != x509.ExtKeyUsageClientAuth {
			return fmt.Errorf("%w: extra extended key usage", ErrUntrusted)
		}
	}
	id := leaf.Subject.CommonName
	if err := CheckDeviceID(id); err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != DeviceURIPrefix+id {
		return fmt.Errorf("%w: device URI does not match CN", ErrUntrusted)
	}
	return nil
}

// VerifyDER parses a DER chain (leaf first) and verifies it.
func (c *CA) VerifyDER(ctx context.Context, chain [][]byte, now time.Time) (Device, error) {
	if len(chain) == 0 {
		return Device{}, ErrNoCertificate
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return Device{}, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	return c.Verify(ctx, []*x509.Certificate{leaf}, now)
}

// checkRevoked asks the RevocationChecker, failing closed when there is none or it errs.
func (c *CA) checkRevoked(ctx context.Context, deviceID string, serial *big.Int) error {
	if c.revoked == nil {
		return ErrNoRevocationCheck
	}
	revoked, err := c.revoked.Revoked(ctx, deviceID, serial)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRevocationCheck, err)
	}
	if revoked {
		return fmt.Errorf("%w: %s", ErrRevoked, deviceID)
	}
	return nil
}
