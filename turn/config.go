package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/pion/transport/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kvmrelay/kvmrelay/internal/netguard"
)

// Defaults for zero Config fields.
const (
	DefaultListenAddr    = ":3478"
	DefaultRealm         = "kvmrelay"
	DefaultQuotaPerUser  = 10
	DefaultQuotaTotal    = 1000
	DefaultCredentialTTL = 10 * time.Minute
)

// Config configures a Server. Zero values take the defaults above.
type Config struct {
	ListenAddr string         // "host:port": UDP and TCP on the same port (e.g. "127.0.0.1:3478" / ":3478")
	PublicIP   netip.Addr     // relay address advertised in XOR-RELAYED-ADDRESS and in ICE server URLs
	Realm      string         // STUN realm; must match what clients send
	Secrets    [][]byte       // coturn use-auth-secret secrets; Secrets[0] mints, all verify (rotation)
	AllowPeers []netip.Prefix // operator exceptions to the default-deny special ranges
	DenyPeers  []netip.Prefix // extra refused ranges (e.g. the relay's own DB/Redis hosts); beats AllowPeers
	// ServicePeers are the relay's own service hosts (database, Redis; see ResolveServicePeers),
	// refused even inside an AllowPeers range unless AllowPeers names exactly that host.
	ServicePeers []ServicePeer

	RelayPortMin, RelayPortMax uint16 // relay port range, inclusive; 0, 0 = ephemeral

	QuotaPerUser, QuotaTotal int   // max open allocations per user (REST user part) and in total
	MaxBitsPerSecond         int64 // per allocation and direction; 0 = unlimited

	// UDPSockets is how many UDP sockets share the listen port (SO_REUSEPORT), each with its
	// own read loop, so client→peer relaying is not bound to one goroutine. The kernel picks
	// the socket by the client's IP address, so one host's sockets all meet the same one
	// (see reuseport_linux.go for why). 0 = runtime.NumCPU(). Always 1 with Net, or off Linux.
	UDPSockets int

	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // metrics (nil = not registered)
	// Conns, when set, guards the TCP and TLS listeners (descriptor budget shared with the
	// relay's HTTP listener, per-address cap, accept errors retried): without it a flood of
	// idle connections ends TURN over TCP, since pion stops accepting on the first error.
	Conns *netguard.Guard

	// Net, when set, carries every socket the server opens — listeners, relay sockets, RFC 6062
	// Connect dials — instead of the OS (e.g. a *vnet.Net from
	// github.com/pion/transport/v5/vnet, for tests on a virtual network). Where it has no TCP
	// (vnet has none) the server listens on UDP only: TCPAddr is nil and ICEServers offers no
	// TCP entry. nil: the OS's sockets.
	Net transport.Net

	// TURN over TLS ("turns:"), for networks that pass nothing but TLS (typically port 443).
	// TLSListenAddr "host:port" enables it; the certificate comes from the PEM files TLSCert
	// and TLSKey, or from TLSConfig (cloned; use its GetCertificate to rotate certificates
	// without a restart). TLS 1.2 is the minimum. TLSServerName is the host put in turns: URLs,
	// which browsers check the certificate against; "" = PublicIP (then the certificate needs
	// that IP address as a SAN).
	TLSListenAddr   string
	TLSCert, TLSKey string
	TLSConfig       *tls.Config
	TLSServerName   string

	hooks testHooks
}

// maxUDPSockets bounds UDPSockets: past the cores there is nothing to gain, and each socket
// costs a goroutine and a kernel receive buffer.
const maxUDPSockets = 256

// testHooks let this package's tests reach inside; always zero outside them.
type testHooks struct {
	noGuard bool                            // test pion's own hooks without the guard in front
	now     func() time.Time                // clock for credentials and bandwidth buckets
	egress  func(netip.AddrPort) error      // consulted before any packet or dial leaves a relay socket
	udpRead func(socket int, from net.Addr) // told which UDP listener socket passed a frame to pion
	// fastPath is told of each datagram the fast path relays (fastpath.go), with its direction.
	fastPath func(toPeer bool)
}

// Sentinel errors of New.
var (
	ErrConfig     = errors.New("turn: invalid config")
	ErrNoPublicIP = errors.New("turn: PublicIP is required when ListenAddr has no specific IP")
)

// normalize applies defaults and checks cfg.
func (c *Config) normalize() error {
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.QuotaPerUser == 0 {
		c.QuotaPerUser = DefaultQuotaPerUser
	}
	if c.QuotaTotal == 0 {
		c.QuotaTotal = DefaultQuotaTotal
	}
	if c.UDPSockets == 0 {
		c.UDPSockets = min(runtime.NumCPU(), maxUDPSockets)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.QuotaPerUser < 0 || c.QuotaTotal < 0:
		return fmt.Errorf("%w: negative quota", ErrConfig)
	case c.MaxBitsPerSecond < 0:
		return fmt.Errorf("%w: negative MaxBitsPerSecond", ErrConfig)
	case c.UDPSockets < 0 || c.UDPSockets > maxUDPSockets:
		return fmt.Errorf("%w: UDPSockets %d (0–%d)", ErrConfig, c.UDPSockets, maxUDPSockets)
	case (c.RelayPortMin == 0) != (c.RelayPortMax == 0) || c.RelayPortMin > c.RelayPortMax:
		return fmt.Errorf("%w: relay port range %d-%d", ErrConfig, c.RelayPortMin, c.RelayPortMax)
	case len(c.Secrets) == 0:
		return ErrNoSecret
	}
	if err := c.checkTLS(); err != nil {
		return err
	}
	for i, sec := range c.Secrets {
		if len(sec) < MinSecretLen {
			return fmt.Errorf("%w: Secrets[%d] has %d bytes", ErrWeakSecret, i, len(sec))
		}
	}
	for _, p := range append(append([]netip.Prefix(nil), c.AllowPeers...), c.DenyPeers...) {
		if !p.IsValid() {
			return fmt.Errorf("%w: invalid peer prefix %v", ErrConfig, p)
		}
	}
	for _, sp := range c.ServicePeers {
		if !sp.Addr.IsValid() {
			return fmt.Errorf("%w: service peer %s (%s) has no valid address", ErrConfig, sp.Service, sp.Host)
		}
	}
	if c.PublicIP.IsValid() {
		c.PublicIP = c.PublicIP.WithZone("").Unmap()
		if c.PublicIP.IsUnspecified() || c.PublicIP.IsMulticast() {
			return fmt.Errorf("%w: PublicIP %s", ErrConfig, c.PublicIP)
		}
	}
	return nil
}

// listenIP returns ListenAddr's IP (unspecified for ":port") and fills in PublicIP from it
// when it is specific.
func (c *Config) listenIP() (netip.Addr, error) {
	host, _, err := net.SplitHostPort(c.ListenAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: ListenAddr %q: %w", ErrConfig, c.ListenAddr, err)
	}
	ip := netip.IPv4Unspecified()
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}, fmt.Errorf("%w: ListenAddr %q needs an IP, not a name: %w", ErrConfig, c.ListenAddr, err)
		}
		ip = ip.Unmap()
	}
	if !c.PublicIP.IsValid() {
		if ip.IsUnspecified() {
			return netip.Addr{}, ErrNoPublicIP
		}
		c.PublicIP = ip
	}
	return ip, nil
}
