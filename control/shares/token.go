package shares

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// tokenPrefix marks a share token (kvms_<43 base64url: 32 random bytes>), so a leaked one
// says what it is and secret scanners can find it.
const tokenPrefix = "kvms_"

const tokenBytes = 32

// newToken returns a fresh share token and the hash the store keeps of it.
func newToken() (token, hash string) {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, tokenHash(token)
}

// tokenHash is what the store keeps of a token: hex SHA-256. A high-entropy token needs no
// salt or slow hash.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// parseToken returns the hash of a presented token, or false when it cannot be one (so the
// store is not asked about garbage).
func parseToken(token string) (string, bool) {
	secret, ok := strings.CutPrefix(strings.TrimSpace(token), tokenPrefix)
	if !ok {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(raw) != tokenBytes {
		return "", false
	}
	return tokenHash(tokenPrefix + secret), true
}
