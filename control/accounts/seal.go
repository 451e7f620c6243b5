package accounts

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// SecretKeySize is the length of Config.SecretKey: an AES-256 key.
const SecretKeySize = 32

// sealedPrefix marks a TOTP secret encrypted at rest, version 1: "v1:" then base64url of
// nonce ‖ AES-256-GCM ciphertext. A stored value without it is a plaintext secret from before
// encryption (base32 never contains ':'), read as it is and sealed when the user is next
// written.
const sealedPrefix = "v1:"

// errSealed is a stored secret that cannot be opened: the wrong key, no key, or a value moved
// to another user or organization.
var errSealed = errors.New("accounts: stored TOTP secret cannot be decrypted (is this node's secret key the deployment's?)")

// sealer encrypts TOTP secrets with the deployment's secret key. The associated data binds a
// ciphertext to its organization and user, so a database writer cannot move one user's
// secret onto another account.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("accounts: secret key is %d bytes, want %d", len(key), SecretKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("accounts: secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("accounts: secret key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func sealAD(orgID, userID string) []byte {
	return []byte("kvmrelay-totp-v1\x00" + orgID + "\x00" + userID)
}

func (s *sealer) seal(orgID, userID, secret string) string {
	nonce := randomBytes(s.aead.NonceSize())
	ct := s.aead.Seal(nonce, nonce, []byte(secret), sealAD(orgID, userID))
	return sealedPrefix + b64url.EncodeToString(ct)
}

func (s *sealer) open(orgID, userID, stored string) (string, error) {
	raw, err := b64url.DecodeString(strings.TrimPrefix(stored, sealedPrefix))
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return "", errSealed
	}
	n := s.aead.NonceSize()
	pt, err := s.aead.Open(nil, raw[:n], raw[n:], sealAD(orgID, userID))
	if err != nil {
		return "", errSealed
	}
	return string(pt), nil
}

// totpSecret is u's TOTP secret in the clear, whether stored sealed or (legacy) plain.
func (s *Service) totpSecret(u store.User) (string, error) {
	if u.TOTPSecret == "" || !strings.HasPrefix(u.TOTPSecret, sealedPrefix) {
		return u.TOTPSecret, nil
	}
	if s.sealer == nil {
		return "", errSealed
	}
	return s.sealer.open(u.OrgID, u.ID, u.TOTPSecret)
}

// updateUser writes u, sealing a plaintext TOTP secret first when there is a key: a secret
// set now, or a legacy one read from an older row. Every UpdateUser of this package goes
// through it.
func (s *Service) updateUser(ctx context.Context, tx store.Tx, u store.User) error {
	if s.sealer != nil && u.TOTPSecret != "" && !strings.HasPrefix(u.TOTPSecret, sealedPrefix) {
		u.TOTPSecret = s.sealer.seal(tx.OrgID(), u.ID, u.TOTPSecret)
	}
	return tx.UpdateUser(ctx, u)
}
