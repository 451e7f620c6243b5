package relay

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// TURNSecretFile holds the generated TURN REST secret inside the data directory.
const TURNSecretFile = "turn-secret"

// LoadOrCreateTURNSecret returns the TURN secret stored in dir, creating a random one (mode
// 0600) on first start. An operator who runs an external coturn sets --turn-secret instead,
// to the value of coturn's static-auth-secret.
func LoadOrCreateTURNSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, TURNSecretFile)
	data, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(data))
		if len(s) < 16 {
			return nil, fmt.Errorf("relay: %s is shorter than 16 characters; delete it to generate a new secret", path)
		}
		return []byte(s), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("relay: read TURN secret: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("relay: generate TURN secret: %w", err)
	}
	secret := hex.EncodeToString(b[:])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: create data dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("relay: create TURN secret: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("relay: write TURN secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("relay: write TURN secret: %w", err)
	}
	return []byte(secret), nil
}

// SecretKeyFile holds the generated control-plane secret key inside the data directory.
const SecretKeyFile = "secret-key"

// LoadSecretKey returns the control plane's 32-byte secret key (it encrypts TOTP secrets at
// rest), stored as 64 hex digits. With path set it reads that file, which must exist (a
// multi-node deployment gives every node the same one). Without, it uses SecretKeyFile in dir,
// creating a random key (mode 0600) on first start. Losing the key makes every enrolled
// authenticator unusable: back it up with the data directory.
func LoadSecretKey(dir, path string) ([]byte, error) {
	if path != "" {
		return readSecretKey(path)
	}
	path = filepath.Join(dir, SecretKeyFile)
	key, err := readSecretKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("relay: generate secret key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: create data dir: %w", err)
	}
	// O_EXCL: of two processes starting on one data directory, one creates the key and the
	// other fails here rather than overwrite it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("relay: create secret key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(b[:]) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("relay: write secret key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("relay: write secret key: %w", err)
	}
	return b[:], nil
}

func readSecretKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("relay: read secret key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("relay: secret key %s must hold 64 hex digits (32 bytes), e.g. from: openssl rand -hex 32", path)
	}
	return key, nil
}

// LocalAddrs lists this machine's own non-loopback interface addresses as /32 and /128
// prefixes. The demo allows TURN to relay to exactly these, so a console forced through TURN
// reaches the demo agent on the same machine and nothing else on the network. Loopback stays
// refused: browsers never use it for ICE, and it is where services meant to be private listen.
func LocalAddrs() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("relay: list interface addresses: %w", err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipnet.IP)
		if !ok || ip.IsLinkLocalUnicast() || ip.IsLoopback() {
			continue
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
