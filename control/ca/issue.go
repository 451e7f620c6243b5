package ca

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"time"
)

const (
	// DefaultCertTTL is a device certificate's lifetime when none is asked for; agents renew
	// at two thirds of it.
	DefaultCertTTL = 24 * time.Hour
	// MaxCertTTL caps lifetimes: revocation is checked online, but short certificates bound
	// the damage of a stolen key on a relay whose revocation data is stale.
	MaxCertTTL = 30 * 24 * time.Hour
	// backdate absorbs clock skew between relay and agent.
	backdate = 5 * time.Minute
)

// Issue validates csrPEM (see ParseCSR) and signs a client certificate for deviceID valid for
// ttl (0 means DefaultCertTTL). It returns the certificate PEM.
func (c *CA) Issue(ctx context.Context, csrPEM []byte, deviceID string, ttl time.Duration) ([]byte, error) {
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	return c.IssueParsed(ctx, csr, deviceID, ttl)
}

// IssueParsed signs a client certificate for an already validated CSR.
func (c *CA) IssueParsed(ctx context.Context, csr CSR, deviceID string, ttl time.Duration) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckDeviceID(deviceID); err != nil {
		return nil, err
	}
	if csr.PublicKey == nil {
		return nil, fmt.Errorf("%w: no public key", ErrBadCSR)
	}
	if ttl == 0 {
		ttl = DefaultCertTTL
	}
	if ttl < 0 || ttl > MaxCertTTL {
		return nil, fmt.Errorf("%w: %v", ErrBadTTL, ttl)
	}
	now := c.now()
	notAfter := now.Add(ttl)
	if notAfter.After(c.root.NotAfter) {
		return nil, fmt.Errorf("%w: outlives the root (%v)", ErrBadTTL, c.root.NotAfter)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: deviceID},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{DeviceURI(deviceID)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.root, csr.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("ca: sign device certificate: %w", err)
	}
	return encodeCert(der), nil
}
