package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

const (
	defaultRootLifetime = 10 * 365 * 24 * time.Hour
	rootCommonName      = "kvmrelay device CA"
	pemCert             = "CERTIFICATE"
	pemKey              = "PRIVATE KEY"
)

// newRootBundle creates a self-signed EC P-384 root that can sign leaf certificates only
// (MaxPathLen 0: no intermediates), and returns it with its key as one PEM bundle.
func newRootBundle(now time.Time, life time.Duration) ([]byte, error) {
	if life <= 0 {
		life = defaultRootLifetime
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: root key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: rootCommonName, Organization: []string{"kvmrelay"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(life),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ca: self-sign root: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: encode root key: %w", err)
	}
	var b bytes.Buffer
	b.Write(encodeCert(der))
	b.Write(pem.EncodeToMemory(&pem.Block{Type: pemKey, Bytes: keyDER}))
	return b.Bytes(), nil
}

// decodeBundle parses a stored bundle and checks it is a usable P-384 root whose key matches.
func decodeBundle(bundle []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	var cert *x509.Certificate
	var key *ecdsa.PrivateKey
	for rest := bundle; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		switch blk.Type {
		case pemCert:
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("ca: stored root: %w", err)
			}
			cert = c
		case pemKey:
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("ca: stored root key: %w", err)
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok || ek.Curve != elliptic.P384() {
				return nil, nil, fmt.Errorf("ca: stored root key is not EC P-384")
			}
			key = ek
		}
	}
	if cert == nil || key == nil {
		return nil, nil, fmt.Errorf("ca: stored root bundle incomplete")
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) || !cert.IsCA {
		return nil, nil, fmt.Errorf("ca: stored root certificate does not match its key")
	}
	return cert, key, nil
}

// newSerial returns a random positive 128-bit serial number: unpredictable, so a CSR cannot
// steer the signed bytes, and unique in practice.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("ca: serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: der})
}
