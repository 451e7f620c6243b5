package ca

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// TokenPrefix marks enrollment tokens, so scanners and humans recognise a leaked one.
const TokenPrefix = "kvme_"

const (
	tokenBytes = 32
	tokenLen   = len(TokenPrefix) + 43 // base64url without padding of 32 bytes
)

// NewEnrollmentToken returns a fresh token, to be shown once to the admin, and the SHA-256
// hash to store. The token has 256 random bits, so a fast unsalted hash is enough: there is
// nothing to brute-force.
func NewEnrollmentToken() (token string, hash []byte) {
	var b [tokenBytes]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24; it crashes the program instead
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(token))
	return token, h[:]
}

// HashEnrollmentToken checks a presented token's format — prefix, exact length, canonical
// base64url of 32 bytes — and returns its hash. Empty, truncated, padded or foreign strings
// are refused here, before any lookup.
func HashEnrollmentToken(presented string) ([]byte, error) {
	if len(presented) != tokenLen || !strings.HasPrefix(presented, TokenPrefix) {
		return nil, fmt.Errorf("%w: wrong length or prefix", ErrTokenMalformed)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(presented[len(TokenPrefix):])
	if err != nil || len(raw) != tokenBytes {
		return nil, fmt.Errorf("%w: not base64url", ErrTokenMalformed)
	}
	h := sha256.Sum256([]byte(presented))
	return h[:], nil
}

// CheckEnrollmentToken reports whether presented is well formed and hashes to storedHash,
// comparing in constant time. A stored hash of the wrong length (empty, say) never matches.
func CheckEnrollmentToken(presented string, storedHash []byte) error {
	h, err := HashEnrollmentToken(presented)
	if err != nil {
		return err
	}
	if len(storedHash) != sha256.Size || subtle.ConstantTimeCompare(h, storedHash) != 1 {
		return ErrTokenUnknown
	}
	return nil
}
