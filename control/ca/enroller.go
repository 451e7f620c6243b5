package ca

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/ca/keyproof"
)

// Enroller turns a one-time token and a CSR into a device certificate, and renews
// certificates for agents that prove their current key.
type Enroller struct {
	CA     *CA
	Tokens TokenStore
	// TTL is the certificate lifetime; 0 means DefaultCertTTL.
	TTL time.Duration
}

// Enroll checks the token's format and the CSR before consuming the token, so a malformed
// request never burns it; then consumes it (once, atomically), checks the device is not
// revoked, and issues a certificate for the device the token was made for. It returns the certificate and the root, PEM encoded.
func (e *Enroller) Enroll(ctx context.Context, token string, csrPEM []byte) (certPEM, caPEM []byte, err error) {
	if e.CA == nil || e.Tokens == nil {
		return nil, nil, errors.New("ca: enroller needs a CA and a token store")
	}
	hash, err := HashEnrollmentToken(token)
	if err != nil {
		return nil, nil, err
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, nil, err
	}
	deviceID, err := e.Tokens.Consume(ctx, hash, e.CA.now())
	if err != nil {
		return nil, nil, fmt.Errorf("ca: enroll: %w", err)
	}
	// A device revoked while its token was outstanding gets nothing.
	if err := e.CA.checkRevoked(ctx, deviceID, nil); err != nil {
		return nil, nil, fmt.Errorf("ca: enroll: %w", err)
	}
	certPEM, err = e.CA.IssueParsed(ctx, csr, deviceID, e.TTL)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, e.CA.RootPEM(), nil
}

// Renew issues a fresh certificate to a device that proves it holds its current, valid,
// unrevoked certificate's key. The proof must cover csrPEM as its body, so a captured proof
// cannot carry another key's CSR. The caller issued want and retires its nonce.
func (e *Enroller) Renew(ctx context.Context, csrPEM []byte, p keyproof.Proof, want keyproof.Challenge) ([]byte, error) {
	if e.CA == nil {
		return nil, errors.New("ca: enroller needs a CA")
	}
	dev, err := e.CA.VerifyProof(ctx, p, ProofExpect{Challenge: want, Body: csrPEM})
	if err != nil {
		return nil, fmt.Errorf("ca: renew: %w", err)
	}
	return e.CA.Issue(ctx, csrPEM, dev.ID, e.TTL)
}
