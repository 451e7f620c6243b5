package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// SigningKeyFile is the name of the signing key inside the data directory.
const SigningKeyFile = "signing-key.pem"

// Keyring holds the key that signs new tokens and the public keys that verify them.
type Keyring struct {
	signing jwk.Key
	public  jwk.Set
}

// NewKeyring makes a keyring that signs with priv and verifies with its public key plus any
// retired public keys (key rotation).
func NewKeyring(priv *ecdsa.PrivateKey, retired ...*ecdsa.PublicKey) (*Keyring, error) {
	if priv == nil || priv.Curve != elliptic.P256() {
		return nil, errors.New("auth: signing key must be an EC P-256 key (ES256)")
	}
	signing, err := importKey(priv)
	if err != nil {
		return nil, err
	}
	set := jwk.NewSet()
	pub, err := importKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := set.AddKey(pub); err != nil {
		return nil, fmt.Errorf("auth: add public key: %w", err)
	}
	for _, r := range retired {
		k, err := importKey(r)
		if err != nil {
			return nil, err
		}
		if err := set.AddKey(k); err != nil {
			return nil, fmt.Errorf("auth: add retired key: %w", err)
		}
	}
	return &Keyring{signing: signing, public: set}, nil
}

// importKey turns a raw EC key into a JWK pinned to ES256 with a thumbprint kid. Pinning the
// algorithm on the verifying key is what makes "alg":"none" and HS256-with-the-public-key
// tokens fail: the token's own header is never trusted to pick the algorithm.
func importKey(raw any) (jwk.Key, error) {
	k, err := jwk.Import(raw)
	if err != nil {
		return nil, fmt.Errorf("auth: import key: %w", err)
	}
	if err := k.Set(jwk.AlgorithmKey, jwa.ES256()); err != nil {
		return nil, fmt.Errorf("auth: set alg: %w", err)
	}
	if err := jwk.AssignKeyID(k); err != nil {
		return nil, fmt.Errorf("auth: assign kid: %w", err)
	}
	return k, nil
}

// GenerateKey makes a new ES256 signing key.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generate key: %w", err)
	}
	return k, nil
}

// LoadOrCreateKeyring reads dir/signing-key.pem, creating it (mode 0600) on first start, so
// tokens minted by `kvmrelay token …` verify in `kvmrelay serve` sharing the data directory.
func LoadOrCreateKeyring(dir string) (*Keyring, error) {
	path := filepath.Join(dir, SigningKeyFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		if err := writeKey(dir, path, key); err != nil {
			return nil, err
		}
		return NewKeyring(key)
	case err != nil:
		return nil, fmt.Errorf("auth: read signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("auth: %s holds no PEM block; delete it to make a new key (all issued tokens then stop working)", path)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: parse signing key %s: %w", path, err)
	}
	return NewKeyring(key)
}

func writeKey(dir, path string, key *ecdsa.PrivateKey) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("auth: create data dir: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("auth: marshal signing key: %w", err)
	}
	// O_EXCL: two processes starting at once must not overwrite each other's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("auth: create signing key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("auth: write signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("auth: write signing key: %w", err)
	}
	return nil
}
