package enroll

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// EnrollClient carries the enrollment request to the relay (the HTTP client comes later).
type EnrollClient interface {
	Enroll(ctx context.Context, token string, csrPEM []byte) (certPEM, caPEM []byte, err error)
}

// Enroll makes a key and CSR, trades token for a certificate, checks the answer, and saves
// the identity in dir. It refuses a directory that already holds a certificate, so a second
// enrollment never silently replaces a working identity; a key left without a certificate by
// an interrupted enrollment is simply replaced.
func Enroll(ctx context.Context, dir, token string, c EnrollClient) (*Identity, error) {
	if token == "" {
		return nil, errors.New("enroll: empty enrollment token")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("enroll: state dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, CertFile)); !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s exists", ErrAlreadyEnrolled, CertFile)
	}
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	csr, err := NewCSR(key)
	if err != nil {
		return nil, err
	}
	certPEM, caPEM, err := c.Enroll(ctx, token, csr)
	if err != nil {
		return nil, fmt.Errorf("enroll: relay refused: %w", err)
	}
	ca, err := parseCert(caPEM)
	if err != nil {
		return nil, err
	}
	if !ca.IsCA {
		return nil, fmt.Errorf("%w: CA certificate is not a CA", ErrBadCertificate)
	}
	id := &Identity{dir: dir, key: key, ca: ca}
	cert, err := id.check(certPEM)
	if err != nil {
		return nil, err
	}
	id.cert = cert
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("enroll: encode key: %w", err)
	}
	// The certificate goes last: its presence marks a complete enrollment.
	for _, f := range []struct {
		name string
		data []byte
	}{
		{KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
		{CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})},
		{CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw})},
	} {
		if err := writeAtomic(dir, f.name, f.data); err != nil {
			return nil, err
		}
	}
	return id, nil
}
