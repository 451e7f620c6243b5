package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// maxCSRSize bounds what ParseCSR reads; a P-384 CSR is well under 1 KiB.
const maxCSRSize = 8 << 10

// CSR is a certificate request that passed ParseCSR: only its public key is used.
type CSR struct {
	PublicKey *ecdsa.PublicKey
}

// ParseCSR accepts exactly one PEM "CERTIFICATE REQUEST" with a valid self-signature over an
// EC P-384 key and no requested extensions (so no SANs, key usages or CA bits). The subject
// is ignored: the CA names the certificate after the device the token was issued for.
func ParseCSR(csrPEM []byte) (CSR, error) {
	if len(csrPEM) == 0 || len(csrPEM) > maxCSRSize {
		return CSR{}, fmt.Errorf("%w: empty or oversized", ErrBadCSR)
	}
	blk, rest := pem.Decode(csrPEM)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return CSR{}, fmt.Errorf("%w: not a PEM certificate request", ErrBadCSR)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return CSR{}, fmt.Errorf("%w: trailing data", ErrBadCSR)
	}
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return CSR{}, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := req.CheckSignature(); err != nil {
		return CSR{}, fmt.Errorf("%w: signature: %w", ErrBadCSR, err)
	}
	pub, ok := req.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P384() {
		return CSR{}, fmt.Errorf("%w: key must be EC P-384", ErrBadCSR)
	}
	// Extensions holds every requested extension, SANs included; we set our own.
	if len(req.Extensions) != 0 || len(req.DNSNames)+len(req.EmailAddresses)+len(req.IPAddresses)+len(req.URIs) != 0 {
		return CSR{}, fmt.Errorf("%w: requests extensions", ErrBadCSR)
	}
	return CSR{PublicKey: pub}, nil
}
