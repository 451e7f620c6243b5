package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Token formats. Each starts with a type prefix so a leaked string says what it is (and
// secret scanners can find it), and so Authenticate can tell an API key from a JWT.
const (
	apiKeyPrefix  = "kvmk_" // kvmk_<16 hex: public prefix>_<43 base64url: secret>
	refreshPrefix = "kvmr_" // kvmr_<86 base64url: family id ‖ user id ‖ 32 random bytes>
	invitePrefix  = "kvmi_" // kvmi_<43 base64url: 32 random bytes>
	resetPrefix   = "kvmp_" // kvmp_<43 base64url: 32 random bytes>: a password reset

	apiKeyIDBytes     = 8
	secretBytes       = 32
	maxBearerLen      = 16 << 10
	recoveryCodeCount = 10
	recoveryCodeLen   = 10 // characters of a 32-letter alphabet: 50 bits
)

var b64url = base64.RawURLEncoding

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return b
}

// tokenHash is what the store keeps of a high-entropy token: hex SHA-256. Such tokens need no
// salt or slow hash; guessing the input is as hard as guessing the token.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// equalHash compares two hex hashes in constant time.
func equalHash(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// newAPIKey returns a fresh key's plaintext, its public prefix and the hash of its secret.
func newAPIKey() (plaintext, prefix, hash string) {
	prefix = hex.EncodeToString(randomBytes(apiKeyIDBytes))
	secret := b64url.EncodeToString(randomBytes(secretBytes))
	return apiKeyPrefix + prefix + "_" + secret, prefix, tokenHash(secret)
}

// parseAPIKey splits a presented key into its prefix and the hash of its secret.
func parseAPIKey(s string) (prefix, hash string, err error) {
	rest, ok := strings.CutPrefix(s, apiKeyPrefix)
	if !ok {
		return "", "", fmt.Errorf("%w: not an API key", ErrInvalidToken)
	}
	prefix, secret, ok := strings.Cut(rest, "_")
	if !ok || len(prefix) != 2*apiKeyIDBytes || !isLowerHex(prefix) {
		return "", "", fmt.Errorf("%w: malformed API key", ErrInvalidToken)
	}
	raw, err := b64url.DecodeString(secret)
	if err != nil || len(raw) != secretBytes {
		return "", "", fmt.Errorf("%w: malformed API key", ErrInvalidToken)
	}
	return prefix, tokenHash(secret), nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// refreshToken is a parsed refresh token. The family and user ids ride inside the token:
// they are authentic once the token's hash is found in the store (the hash covers them), and
// they let a reused token's family be revoked without a store lookup by hash.
type refreshToken struct {
	familyID, userID string
	hash             string
}

func newRefreshToken(familyID, userID string) (string, refreshToken, error) {
	fam, err := uuidBytes(familyID)
	if err != nil {
		return "", refreshToken{}, err
	}
	usr, err := uuidBytes(userID)
	if err != nil {
		return "", refreshToken{}, err
	}
	raw := make([]byte, 0, 32+secretBytes)
	raw = append(append(append(raw, fam[:]...), usr[:]...), randomBytes(secretBytes)...)
	tok := refreshPrefix + b64url.EncodeToString(raw)
	return tok, refreshToken{familyID: familyID, userID: userID, hash: tokenHash(tok)}, nil
}

func parseRefreshToken(s string) (refreshToken, error) {
	rest, ok := strings.CutPrefix(s, refreshPrefix)
	if !ok || len(rest) > 128 {
		return refreshToken{}, fmt.Errorf("%w: not a refresh token", ErrInvalidToken)
	}
	raw, err := b64url.DecodeString(rest)
	if err != nil || len(raw) != 32+secretBytes {
		return refreshToken{}, fmt.Errorf("%w: malformed refresh token", ErrInvalidToken)
	}
	return refreshToken{
		familyID: uuidString(raw[:16]),
		userID:   uuidString(raw[16:32]),
		hash:     tokenHash(s),
	}, nil
}

func newInviteToken() (token, hash string) {
	token = invitePrefix + b64url.EncodeToString(randomBytes(secretBytes))
	return token, tokenHash(token)
}

func parseInviteToken(s string) (hash string, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), invitePrefix)
	if !ok {
		return "", fmt.Errorf("%w: not an invitation", ErrInvalidToken)
	}
	raw, err := b64url.DecodeString(rest)
	if err != nil || len(raw) != secretBytes {
		return "", fmt.Errorf("%w: malformed invitation", ErrInvalidToken)
	}
	return tokenHash(invitePrefix + rest), nil
}

func newResetToken() (token, hash string) {
	token = resetPrefix + b64url.EncodeToString(randomBytes(secretBytes))
	return token, tokenHash(token)
}

func parseResetToken(s string) (hash string, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), resetPrefix)
	if !ok {
		return "", fmt.Errorf("%w: not a password reset token", ErrInvalidToken)
	}
	raw, err := b64url.DecodeString(rest)
	if err != nil || len(raw) != secretBytes {
		return "", fmt.Errorf("%w: malformed password reset token", ErrInvalidToken)
	}
	return tokenHash(resetPrefix + rest), nil
}

// uuidBytes parses a store id (canonical lower-case UUID).
func uuidBytes(id string) ([16]byte, error) {
	var b [16]byte
	if !store.ValidID(id) {
		return b, fmt.Errorf("accounts: %q is not a store id", id)
	}
	_, err := hex.Decode(b[:], []byte(strings.ReplaceAll(id, "-", "")))
	return b, err
}

func uuidString(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// recoveryAlphabet is Crockford's base32: no i, l, o or u to misread.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// newRecoveryCodes returns n codes formatted xxxxx-xxxxx, 50 random bits each.
func newRecoveryCodes(n int) []string {
	codes := make([]string, n)
	for i := range codes {
		raw := randomBytes(recoveryCodeLen)
		var sb strings.Builder
		for j, c := range raw {
			if j == recoveryCodeLen/2 {
				sb.WriteByte('-')
			}
			sb.WriteByte(recoveryAlphabet[c&31]) // 256 is a multiple of 32: uniform
		}
		codes[i] = sb.String()
	}
	return codes
}

// normalizeRecoveryCode accepts what a person types: any case, dashes and spaces, and the
// letters Crockford maps (i, l → 1; o → 0). It returns "" for anything that is not a code.
func normalizeRecoveryCode(s string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case '-', ' ':
			continue
		case 'i', 'l':
			r = '1'
		case 'o':
			r = '0'
		}
		if !strings.ContainsRune(recoveryAlphabet, r) {
			return ""
		}
		sb.WriteRune(r)
		if sb.Len() > recoveryCodeLen {
			return ""
		}
	}
	if sb.Len() != recoveryCodeLen {
		return ""
	}
	return sb.String()
}

// recoveryCodeHash binds a code to its user, so equal codes of two users hash apart.
func recoveryCodeHash(userID, normalized string) string {
	return tokenHash("kvmrelay-recovery\x00" + userID + "\x00" + normalized)
}
