package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	tc := newTestCA(t)
	ctx := context.Background()
	_, cert := tc.issueFor(t, "dev-1")

	assert.Equal(t, "dev-1", cert.Subject.CommonName)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
	require.Len(t, cert.URIs, 1)
	assert.Equal(t, "urn:kvmrelay:device:dev-1", cert.URIs[0].String())
	assert.False(t, cert.IsCA)
	assert.LessOrEqual(t, cert.SerialNumber.BitLen(), 128)
	assert.Greater(t, cert.SerialNumber.BitLen(), 64, "serial is random 128-bit")
	assert.True(t, tc.clock.Now().Add(-backdate).Equal(cert.NotBefore), "backdated NotBefore")
	assert.True(t, tc.clock.Now().Add(DefaultCertTTL).Equal(cert.NotAfter), "24h default")
	assert.Empty(t, cert.DNSNames)

	dev, err := tc.Verify(ctx, []*x509.Certificate{cert}, tc.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, "dev-1", dev.ID)
	assert.Equal(t, cert.SerialNumber, dev.Serial)
}

func TestIssueSerialsDiffer(t *testing.T) {
	tc := newTestCA(t)
	_, a := tc.issueFor(t, "dev-1")
	_, b := tc.issueFor(t, "dev-1")
	assert.NotEqual(t, a.SerialNumber, b.SerialNumber)
}

func TestIssueRefusesBadCSR(t *testing.T) {
	tc := newTestCA(t)
	p384 := newP384(t)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)

	good := csrFor(t, p384, nil)
	blk, _ := pem.Decode(good)
	tampered := append([]byte(nil), blk.Bytes...)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	badSig := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered})

	evil, _ := url.Parse("urn:kvmrelay:device:other")
	cases := []struct {
		name string
		csr  []byte
	}{
		{"empty", nil},
		{"not pem", []byte("hello")},
		{"wrong pem type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes})},
		{"trailing data", append(append([]byte(nil), good...), good...)},
		{"rsa key", csrFor(t, rsaKey, nil)},
		{"p256 key", csrFor(t, p256, nil)},
		{"bad signature", badSig},
		{"dns san", csrFor(t, p384, &x509.CertificateRequest{DNSNames: []string{"relay.example"}})},
		{"ip san", csrFor(t, p384, &x509.CertificateRequest{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})},
		{"uri san", csrFor(t, p384, &x509.CertificateRequest{URIs: []*url.URL{evil}})},
		{"email san", csrFor(t, p384, &x509.CertificateRequest{EmailAddresses: []string{"a@b.c"}})},
		{"basic constraints CA", csrFor(t, p384, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}},
		}})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tc.Issue(context.Background(), c.csr, "dev-1", 0)
			require.ErrorIs(t, err, ErrBadCSR)
		})
	}
}

func TestIssueIgnoresRequestedCN(t *testing.T) {
	tc := newTestCA(t)
	certPEM, err := tc.Issue(context.Background(),
		csrFor(t, newP384(t), &x509.CertificateRequest{Subject: pkix.Name{CommonName: "admin", Organization: []string{"x"}}}),
		"dev-7", 0)
	require.NoError(t, err)
	cert := parsePEMCert(t, certPEM)
	assert.Equal(t, "dev-7", cert.Subject.CommonName)
	assert.Empty(t, cert.Subject.Organization)
}

func TestIssueRefusesBadDeviceIDAndTTL(t *testing.T) {
	tc := newTestCA(t)
	csr := csrFor(t, newP384(t), nil)
	for _, id := range []string{"", "a b", "<img>", "dev/1", string(make([]byte, 129))} {
		_, err := tc.Issue(context.Background(), csr, id, 0)
		assert.ErrorIs(t, err, ErrBadDeviceID, "id %q", id)
	}
	for _, ttl := range []time.Duration{-time.Second, MaxCertTTL + time.Second} {
		_, err := tc.Issue(context.Background(), csr, "dev-1", ttl)
		assert.ErrorIs(t, err, ErrBadTTL, "ttl %v", ttl)
	}
}
