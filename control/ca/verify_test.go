package ca

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type failingChecker struct{}

func (failingChecker) Revoked(context.Context, string, *big.Int) (bool, error) {
	return false, errors.New("store down")
}

// signRaw signs an arbitrary leaf with the CA's key, to check Verify refuses shapes Issue
// would never produce.
func (tc testCA) signRaw(t *testing.T, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	key := newP384(t)
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(42)
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = tc.clock.Now().Add(-time.Minute), tc.clock.Now().Add(time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tc.root, &key.PublicKey, tc.key)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// TestVerifyRejects covers SECURITY.md item 8 (revoked device certificate) and the ways a
// certificate could pass as another device or outside its lifetime.
func TestVerifyRejects(t *testing.T) {
	tc := newTestCA(t)
	other := newTestCA(t)
	ctx := context.Background()
	now := tc.clock.Now()
	_, good := tc.issueFor(t, "dev-a")
	_, revokedDev := tc.issueFor(t, "dev-r")
	tc.revs.RevokeDevice("dev-r")
	_, revokedSerial := tc.issueFor(t, "dev-s")
	tc.revs.RevokeSerial(revokedSerial.SerialNumber)
	_, foreign := other.issueFor(t, "dev-a")
	uriB, _ := url.Parse(DeviceURIPrefix + "dev-b")
	mismatch := tc.signRaw(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "dev-a"}, URIs: []*url.URL{uriB},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	serverAuth := tc.signRaw(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "dev-a"}, URIs: []*url.URL{DeviceURI("dev-a")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	extraUsage := tc.signRaw(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "dev-a"}, URIs: []*url.URL{DeviceURI("dev-a")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	})

	cases := []struct {
		name  string
		chain []*x509.Certificate
		now   time.Time
		want  error
	}{
		{"no certificate", nil, now, ErrNoCertificate},
		{"expired", []*x509.Certificate{good}, good.NotAfter.Add(time.Second), ErrUntrusted},
		{"not yet valid", []*x509.Certificate{good}, good.NotBefore.Add(-time.Second), ErrUntrusted},
		{"other CA", []*x509.Certificate{foreign}, now, ErrUntrusted},
		{"other CA with our root appended", []*x509.Certificate{foreign, tc.root}, now, ErrUntrusted},
		{"root as leaf", []*x509.Certificate{tc.root}, now, ErrUntrusted},
		{"revoked device", []*x509.Certificate{revokedDev}, now, ErrRevoked},
		{"revoked serial", []*x509.Certificate{revokedSerial}, now, ErrRevoked},
		{"CN and URI disagree", []*x509.Certificate{mismatch}, now, ErrUntrusted},
		{"server auth only", []*x509.Certificate{serverAuth}, now, ErrUntrusted},
		{"extra usage", []*x509.Certificate{extraUsage}, now, ErrUntrusted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tc.Verify(ctx, c.chain, c.now)
			require.ErrorIs(t, err, c.want)
		})
	}
}

func TestVerifyDeviceAIsNeverB(t *testing.T) {
	tc := newTestCA(t)
	_, a := tc.issueFor(t, "dev-a")
	_, b := tc.issueFor(t, "dev-b")
	for _, c := range []struct {
		cert *x509.Certificate
		id   string
	}{{a, "dev-a"}, {b, "dev-b"}} {
		dev, err := tc.Verify(context.Background(), []*x509.Certificate{c.cert}, tc.clock.Now())
		require.NoError(t, err)
		assert.Equal(t, c.id, dev.ID)
	}
	// Revoking B leaves A alone, and the other way round.
	tc.revs.RevokeDevice("dev-b")
	_, err := tc.Verify(context.Background(), []*x509.Certificate{a}, tc.clock.Now())
	require.NoError(t, err)
	_, err = tc.Verify(context.Background(), []*x509.Certificate{b}, tc.clock.Now())
	require.ErrorIs(t, err, ErrRevoked)
}

func TestVerifyFailsClosed(t *testing.T) {
	tc := newTestCA(t)
	_, cert := tc.issueFor(t, "dev-a")

	broken, err := Open(context.Background(), Config{Store: memStore{bundle: tc.bundle(t)}, Revocation: failingChecker{}, Now: tc.clock.Now})
	require.NoError(t, err)
	_, err = broken.Verify(context.Background(), []*x509.Certificate{cert}, tc.clock.Now())
	require.ErrorIs(t, err, ErrRevocationCheck)

	unchecked, err := Open(context.Background(), Config{Store: memStore{bundle: tc.bundle(t)}, Now: tc.clock.Now})
	require.NoError(t, err)
	_, err = unchecked.Verify(context.Background(), []*x509.Certificate{cert}, tc.clock.Now())
	require.ErrorIs(t, err, ErrNoRevocationCheck)
}

// memStore is a read-only KeyStore over a fixed bundle.
type memStore struct{ bundle []byte }

func (m memStore) Load(context.Context) ([]byte, error) { return m.bundle, nil }
func (m memStore) Save(context.Context, []byte) error   { return ErrExists }
