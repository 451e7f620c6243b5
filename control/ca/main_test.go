package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClock() *testenv.Clock { return testenv.NewClock(time.Unix(1_800_000_000, 0)) }

type testCA struct {
	*CA
	clock *testenv.Clock
	revs  *MemRevocations
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	clock := newClock()
	revs := NewMemRevocations()
	c, err := Open(context.Background(), Config{Store: FileKeyStore{Dir: t.TempDir()}, Revocation: revs, Now: clock.Now})
	require.NoError(t, err)
	return testCA{CA: c, clock: clock, revs: revs}
}

func newP384(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	return k
}

func csrFor(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// issueFor enrolls a fresh key as deviceID and returns the key and parsed certificate.
func (tc testCA) issueFor(t *testing.T, deviceID string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key := newP384(t)
	certPEM, err := tc.Issue(context.Background(), csrFor(t, key, nil), deviceID, 0)
	require.NoError(t, err)
	return key, parsePEMCert(t, certPEM)
}

func parsePEMCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	require.NotNil(t, blk)
	c, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	return c
}

// bundle re-encodes the CA's root and key, to open a second CA over the same root.
func (tc testCA) bundle(t *testing.T) []byte {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(tc.key)
	require.NoError(t, err)
	return append(tc.RootPEM(), pem.EncodeToMemory(&pem.Block{Type: pemKey, Bytes: keyDER})...)
}
