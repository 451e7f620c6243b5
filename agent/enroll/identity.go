package enroll

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Identity is an enrolled agent's key, current certificate and CA. The certificate changes
// on renewal; everything else is fixed. Safe for concurrent use.
type Identity struct {
	dir string
	key *ecdsa.PrivateKey
	ca  *x509.Certificate

	mu   sync.RWMutex
	cert *tls.Certificate // Leaf always set
}

// Load reads an identity from a state directory; ErrNotEnrolled when there is none.
func Load(dir string) (*Identity, error) {
	keyPEM, certPEM, caPEM, err := readState(dir)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	ca, err := parseCert(caPEM)
	if err != nil || !ca.IsCA {
		return nil, fmt.Errorf("%w: %s is not a CA certificate", ErrBadState, CAFile)
	}
	id := &Identity{dir: dir, key: key, ca: ca}
	cert, err := id.check(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	id.cert = cert
	return id, nil
}

// check parses a certificate PEM and makes sure it is ours: our key, signed by our CA, for
// client authentication.
func (id *Identity) check(certPEM []byte) (*tls.Certificate, error) {
	leaf, err := parseCert(certPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&id.key.PublicKey) {
		return nil, fmt.Errorf("%w: not for this agent's key", ErrBadCertificate)
	}
	if err := leaf.CheckSignatureFrom(id.ca); err != nil {
		return nil, fmt.Errorf("%w: not signed by the CA: %w", ErrBadCertificate, err)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || !leaf.NotAfter.After(leaf.NotBefore) {
		return nil, fmt.Errorf("%w: not a client certificate", ErrBadCertificate)
	}
	return &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: id.key, Leaf: leaf}, nil
}

// DeviceID is the CN the CA gave this agent.
func (id *Identity) DeviceID() string { return id.Certificate().Subject.CommonName }

// Key returns the device key.
func (id *Identity) Key() *ecdsa.PrivateKey { return id.key }

// CA returns the device CA root.
func (id *Identity) CA() *x509.Certificate { return id.ca }

// Certificate returns the current certificate.
func (id *Identity) Certificate() *x509.Certificate {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.cert.Leaf
}

// TLSCertificate returns the current certificate with its key, for crypto/tls.
func (id *Identity) TLSCertificate() *tls.Certificate {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.cert
}

// GetClientCertificate is for tls.Config.GetClientCertificate: each handshake gets the
// newest certificate, so a renewal applies to the next connection without a restart.
func (id *Identity) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return id.TLSCertificate(), nil
}

// RenewAt is when the current certificate should be renewed: at two thirds of its lifetime,
// leaving a third (8 hours of the default 24) to ride out relay outages.
func (id *Identity) RenewAt() time.Time {
	c := id.Certificate()
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// NeedsRenewal reports whether the certificate has reached two thirds of its lifetime.
func (id *Identity) NeedsRenewal(now time.Time) bool {
	return !now.Before(id.RenewAt())
}

// Replace validates a renewed certificate, writes it over agent.crt atomically, then makes
// it current. On any error the old certificate stays, on disk and in memory.
func (id *Identity) Replace(certPEM []byte) error {
	cert, err := id.check(certPEM)
	if err != nil {
		return err
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	// Never go backwards: a delayed answer to an old request must not replace a newer one.
	if cert.Leaf.NotAfter.Before(id.cert.Leaf.NotAfter) {
		return fmt.Errorf("%w: older than the current certificate", ErrBadCertificate)
	}
	if err := writeAtomic(id.dir, CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw})); err != nil {
		return err
	}
	id.cert = cert
	return nil
}

func parseKey(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s is not a PEM private key", ErrBadState, KeyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadState, KeyFile, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P384() {
		return nil, fmt.Errorf("%w: %s is not an EC P-384 key", ErrBadState, KeyFile)
	}
	return ek, nil
}

func parseCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: not a PEM certificate", ErrBadCertificate)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCertificate, err)
	}
	return c, nil
}
