package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Cert is a self-signed server certificate for tests, valid for the given DNS name and
// 127.0.0.1, written as PEM files in the test's temporary directory.
type Cert struct {
	CertFile, KeyFile string
	Pair              tls.Certificate
	// Pool trusts exactly this certificate.
	Pool *x509.CertPool
}

// SelfSignedCert makes a Cert for dnsName (may be empty) and 127.0.0.1.
func SelfSignedCert(t testing.TB, dnsName string) *Cert {
	t.Helper()
	fail := func(err error) {
		if err != nil {
			t.Fatalf("self-signed certificate: %v", err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if dnsName != "" {
		tmpl.Subject.CommonName = dnsName
		tmpl.DNSNames = []string{dnsName}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	fail(err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	fail(err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	dir := t.TempDir()
	c := &Cert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	fail(os.WriteFile(c.CertFile, certPEM, 0o600))
	fail(os.WriteFile(c.KeyFile, keyPEM, 0o600))
	c.Pair, err = tls.X509KeyPair(certPEM, keyPEM)
	fail(err)
	leaf, err := x509.ParseCertificate(der)
	fail(err)
	c.Pool = x509.NewCertPool()
	c.Pool.AddCert(leaf)
	return c
}
