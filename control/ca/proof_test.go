package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/control/ca/keyproof"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testAudience = "https://relay.test"

func TestVerifyProof(t *testing.T) {
	tc := newTestCA(t)
	ctx := context.Background()
	key, cert := tc.issueFor(t, "dev-a")
	rKey, revokedCert := tc.issueFor(t, "dev-r")
	tc.revs.RevokeDevice("dev-r")
	_, foreignCert := newTestCA(t).issueFor(t, "dev-a")
	ch := keyproof.NewChallenge(testAudience)
	body := []byte("request body")
	now := tc.clock.Now()

	mk := func(mut func(*keyproof.Proof), k *ecdsa.PrivateKey, c *x509.Certificate, at time.Time, ch keyproof.Challenge, b []byte) keyproof.Proof {
		p, err := keyproof.Sign(k, [][]byte{c.Raw}, ch, at, b)
		require.NoError(t, err)
		if mut != nil {
			mut(&p)
		}
		return p
	}
	otherKey := newP384(t)

	valid := mk(nil, key, cert, now, ch, body)
	dev, err := tc.VerifyProof(ctx, valid, ProofExpect{Challenge: ch, Body: body})
	require.NoError(t, err)
	assert.Equal(t, "dev-a", dev.ID)

	cases := []struct {
		name string
		p    keyproof.Proof
		want ProofExpect
		err  error
	}{
		{"wrong nonce", mk(nil, key, cert, now, keyproof.NewChallenge(testAudience), body), ProofExpect{Challenge: ch, Body: body}, ErrBadProof},
		{"wrong audience", mk(nil, key, cert, now, keyproof.Challenge{Nonce: ch.Nonce, Audience: "https://evil"}, body), ProofExpect{Challenge: ch, Body: body}, ErrBadProof},
		{"stale timestamp", mk(nil, key, cert, now.Add(-3*time.Minute), ch, body), ProofExpect{Challenge: ch, Body: body}, ErrBadProof},
		{"future timestamp", mk(nil, key, cert, now.Add(3*time.Minute), ch, body), ProofExpect{Challenge: ch, Body: body}, ErrBadProof},
		{"wrong key", mk(nil, otherKey, cert, now, ch, body), ProofExpect{Challenge: ch, Body: body}, ErrBadProof},
		{"other body", valid, ProofExpect{Challenge: ch, Body: []byte("another request")}, ErrBadProof},
		{"empty signature", mk(func(p *keyproof.Proof) { p.Signature = nil }, key, cert, now, ch, body), ProofExpect{Challenge: ch, Body: body}, ErrBadProof},
		{"garbage signature", mk(func(p *keyproof.Proof) { p.Signature = []byte{0x30, 0} }, key, cert, now, ch, body), ProofExpect{Challenge: ch, Body: body}, ErrBadProof},
		{"empty nonce both sides", mk(func(p *keyproof.Proof) { p.Nonce = nil }, key, cert, now, ch, body), ProofExpect{Challenge: keyproof.Challenge{Audience: testAudience}, Body: body}, ErrBadProof},
		{"no chain", mk(func(p *keyproof.Proof) { p.Chain = nil }, key, cert, now, ch, body), ProofExpect{Challenge: ch, Body: body}, ErrNoCertificate},
		{"garbage chain", mk(func(p *keyproof.Proof) { p.Chain = [][]byte{{1, 2, 3}} }, key, cert, now, ch, body), ProofExpect{Challenge: ch, Body: body}, ErrUntrusted},
		{"other CA", mk(nil, key, foreignCert, now, ch, body), ProofExpect{Challenge: ch, Body: body}, ErrUntrusted},
		{"revoked device", mk(nil, rKey, revokedCert, now, ch, body), ProofExpect{Challenge: ch, Body: body}, ErrRevoked},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tc.VerifyProof(ctx, c.p, c.want)
			require.ErrorIs(t, err, c.err)
		})
	}
}

func TestEnrollerRenew(t *testing.T) {
	tc, e, _ := newEnroller(t)
	ctx := context.Background()
	key, cert := tc.issueFor(t, "dev-a")
	csr := csrFor(t, key, nil)
	ch := keyproof.NewChallenge(testAudience)
	p, err := keyproof.Sign(key, [][]byte{cert.Raw}, ch, tc.clock.Now(), csr)
	require.NoError(t, err)

	certPEM, err := e.Renew(ctx, csr, p, ch)
	require.NoError(t, err)
	renewed := parsePEMCert(t, certPEM)
	assert.Equal(t, "dev-a", renewed.Subject.CommonName)
	assert.NotEqual(t, cert.SerialNumber, renewed.SerialNumber)

	// The proof covers the CSR: it cannot carry an attacker's key.
	_, err = e.Renew(ctx, csrFor(t, newP384(t), nil), p, ch)
	require.ErrorIs(t, err, ErrBadProof)

	tc.revs.RevokeDevice("dev-a")
	_, err = e.Renew(ctx, csr, p, ch)
	require.ErrorIs(t, err, ErrRevoked)
}
