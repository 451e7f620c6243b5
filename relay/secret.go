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
