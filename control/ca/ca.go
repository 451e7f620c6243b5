package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Config configures a CA. Store is required; Revocation is required for anything that
// verifies (Verify, ServerTLSConfig, VerifyProof) and may be nil for an issue-only CA.
type Config struct {
	Store      KeyStore
	Revocation RevocationChecker
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RootLifetime is how long a newly created root is valid; 0 means 10 years.
	RootLifetime time.Duration
}

// CA signs device certificates with its root and verifies them. It is safe for concurrent use:
// nothing in it changes after Open.
type CA struct {
	root    *x509.Certificate
	rootPEM []byte
	key     *ecdsa.PrivateKey
	pool    *x509.CertPool
	revoked RevocationChecker
	now     func() time.Time
}

// Open loads the root from cfg.Store, creating and saving one on first start.
func Open(ctx context.Context, cfg Config) (*CA, error) {
	if cfg.Store == nil {
		return nil, errors.New("ca: config needs a key store")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	bundle, err := cfg.Store.Load(ctx)
	if errors.Is(err, ErrNotFound) {
		bundle, err = createRoot(ctx, cfg.Store, now(), cfg.RootLifetime)
	}
	if err != nil {
		return nil, err
	}
	root, key, err := decodeBundle(bundle)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &CA{
		root:    root,
		rootPEM: encodeCert(root.Raw),
		key:     key,
		pool:    pool,
		revoked: cfg.Revocation,
		now:     now,
	}, nil
}

// createRoot makes a root and saves it; when another process saved one first, it loads that.
func createRoot(ctx context.Context, ks KeyStore, now time.Time, life time.Duration) ([]byte, error) {
	bundle, err := newRootBundle(now, life)
	if err != nil {
		return nil, err
	}
	err = ks.Save(ctx, bundle)
	if errors.Is(err, ErrExists) {
		return ks.Load(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: save root: %w", err)
	}
	return bundle, nil
}

// RootPEM returns the root certificate, PEM encoded, for agents and operators.
func (c *CA) RootPEM() []byte { return append([]byte(nil), c.rootPEM...) }

// Root returns the root certificate.
func (c *CA) Root() *x509.Certificate { return c.root }

// Pool returns a pool holding only the root.
func (c *CA) Pool() *x509.CertPool { return c.pool.Clone() }
