package device

import (
	"encoding/hex"

	"github.com/kvmrelay/kvmrelay/control/ca"
)

// NewEnrollmentToken returns a fresh one-time enrollment token, to be shown once to the admin,
// and its hash as the store keeps it (store.EnrollmentToken.Hash, looked up with
// store.LookupEnrollment): lower-case hex of the SHA-256 of the token.
func NewEnrollmentToken() (token, hash string) {
	token, h := ca.NewEnrollmentToken()
	return token, hex.EncodeToString(h)
}

// EnrollmentTokenHash checks a presented token's format (ca.HashEnrollmentToken: prefix,
// length, canonical base64url) and returns its hash as the store keeps it. A malformed token
// is refused here, before any lookup, with an error wrapping ca.ErrTokenRejected.
func EnrollmentTokenHash(presented string) (string, error) {
	h, err := ca.HashEnrollmentToken(presented)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h), nil
}
