package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/ca/keyproof"
)

// DefaultProofMaxAge is how far a proof's timestamp may be from the relay's clock.
const DefaultProofMaxAge = 2 * time.Minute

// ProofExpect is what the relay knows independently of the proof.
type ProofExpect struct {
	Challenge keyproof.Challenge // the challenge this relay issued (and now retires)
	Body      []byte             // the request body the proof must cover
	MaxAge    time.Duration      // 0 means DefaultProofMaxAge
}

// VerifyProof checks a proof of key: the nonce and audience are the ones issued (compared in
// constant time, empty never matches), the timestamp is fresh, the certificate chain passes
// Verify (revocation included) and the signature is by the certificate's key over the body.
func (c *CA) VerifyProof(ctx context.Context, p keyproof.Proof, want ProofExpect) (Device, error) {
	if len(want.Challenge.Nonce) < keyproof.NonceSize || want.Challenge.Audience == "" {
		return Device{}, fmt.Errorf("%w: no challenge to check against", ErrBadProof)
	}
	if len(p.Signature) == 0 {
		return Device{}, fmt.Errorf("%w: empty signature", ErrBadProof)
	}
	nonceOK := subtle.ConstantTimeCompare(p.Nonce, want.Challenge.Nonce)
	audOK := subtle.ConstantTimeCompare([]byte(p.Audience), []byte(want.Challenge.Audience))
	if nonceOK&audOK != 1 {
		return Device{}, fmt.Errorf("%w: nonce or audience mismatch", ErrBadProof)
	}
	maxAge := want.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultProofMaxAge
	}
	now := c.now()
	if d := now.Sub(time.Unix(p.Time, 0)); d > maxAge || d < -maxAge {
		return Device{}, fmt.Errorf("%w: timestamp off by %v", ErrBadProof, d)
	}
	dev, err := c.VerifyDER(ctx, p.Chain, now)
	if err != nil {
		return Device{}, err
	}
	pub, _ := dev.Cert.PublicKey.(*ecdsa.PublicKey) // Verify guarantees EC P-384
	if err := keyproof.CheckSignature(p, pub, want.Body); err != nil {
		return Device{}, fmt.Errorf("%w: %w", ErrBadProof, err)
	}
	return dev, nil
}
