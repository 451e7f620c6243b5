package turn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
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

	RelayPortMin, RelayPortMax uint16 // relay port range, inclusive; 0, 0 = ephemeral

	QuotaPerUser, QuotaTotal int   // max open allocations per user (REST user part) and in total
	MaxBitsPerSecond         int64 // per allocation and direction; 0 = unlimited

	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // metrics (nil = not registered)

	hooks testHooks
}

// testHooks let this package's tests reach inside; always zero outside them.
type testHooks struct {
	noGuard bool                       // test pion's own hooks without the guard in front
	now     func() time.Time           // clock for credentials and bandwidth buckets
	egress  func(netip.AddrPort) error // consulted before any packet or dial leaves a relay socket
}

// Sentinel errors of New.
var (
	ErrConfig     = errors.New("turn: invalid config")
	ErrNoPublicIP = errors.New("turn: PublicIP is required when ListenAddr has no specific IP")
)

// Server is the embedded TURN server: UDP and TCP listeners on one port, served by pion/turn
// behind the guard, with the policy, quotas, bandwidth cap and metrics of this package.
type Server struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	policy  *PeerPolicy
	keys    *keyring
	quota   *quota
	metrics *metrics
	relays  *relays
	self    map[netip.Addr]struct{} // addresses of this relay; with port turnPort they are refused peers
	port    uint16

	udp  *guardPacketConn
	tcp  *guardListener
	pion *pionturn.Server

	ctx    context.Context // ends dials and waits on Close
	cancel context.CancelFunc
	ops    ops

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, opens the UDP and TCP listeners and starts serving. Errors wrap the
// cause (ErrConfig, ErrNoPublicIP, ErrNoSecret, ErrWeakSecret, or the listen error).
func New(cfg Config) (*Server, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	listenIP, err := cfg.listenIP()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	now := cfg.hooks.now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		now:     now,
		policy:  NewPeerPolicy(cfg.AllowPeers, cfg.DenyPeers),
		keys:    newKeyring(cfg.Secrets, cfg.Realm, now),
		quota:   newQuota(cfg.QuotaPerUser, cfg.QuotaTotal),
		metrics: m,
		ctx:     ctx,
		cancel:  cancel,
	}
	s.relays = newRelays(s, listenIP, cfg.PublicIP, cfg.RelayPortMin, cfg.RelayPortMax)

	pc, ln, err := listenPair(ctx, cfg.ListenAddr)
	if err != nil {
		cancel()
		m.unregister(cfg.Registerer)
		return nil, fmt.Errorf("turn: listen on %s: %w", cfg.ListenAddr, err)
	}
	s.port = uint16(pc.LocalAddr().(*net.UDPAddr).Port) //nolint:gosec,forcetypeassert // udp, port fits
	s.self = selfAddrs(listenIP, cfg.PublicIP)
	s.udp = &guardPacketConn{PacketConn: pc, s: s}
	s.tcp = newGuardListener(ln, s, 4*cfg.QuotaTotal+64)

	s.pion, err = pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: []pionturn.PacketConnConfig{{
			PacketConn: s.udp, RelayAddressGenerator: s.relays, PermissionHandler: s.permit,
		}},
		ListenerConfigs: []pionturn.ListenerConfig{{
			Listener: s.tcp, RelayAddressGenerator: s.relays, PermissionHandler: s.permit,
		}},
		LoggerFactory: pionLogs{log: s.log},
		Realm:         cfg.Realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.quotaOK,
		EventHandler: pionturn.EventHandler{
			OnAuth:              s.onAuth,
			OnPermissionCreated: s.onPermission(true),
			OnPermissionDeleted: s.onPermission(false),
		},
	})
	if err != nil {
		cancel()
		_ = pc.Close()
		_ = ln.Close()
		m.unregister(cfg.Registerer)
		return nil, fmt.Errorf("turn: start pion server: %w", err)
	}
	s.log.Info("turn: listening", "udp", pc.LocalAddr().String(), "tcp", ln.Addr().String(),
		"public_ip", cfg.PublicIP.String(), "realm", cfg.Realm)
	return s, nil
}

// Close stops the listeners, ends every allocation and connection, and returns once the
// goroutines serving them have let go of our sockets. Safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.ops.close()
		err := s.pion.Close() // closes the UDP socket and the TCP listener
		s.tcp.closeConns()    // pion leaves accepted TCP connections open
		s.relays.closeAll()
		s.cancel()
		if !s.ops.wait(5 * time.Second) {
			err = errors.Join(err, errors.New("turn: close: socket calls still running after 5s"))
		}
		s.metrics.unregister(s.cfg.Registerer)
		if err != nil {
			s.closeErr = fmt.Errorf("turn: close: %w", err)
		}
	})
	return s.closeErr
}

// UDPAddr is the UDP listener's address.
func (s *Server) UDPAddr() net.Addr { return s.udp.LocalAddr() }

// TCPAddr is the TCP listener's address.
func (s *Server) TCPAddr() net.Addr { return s.tcp.Addr() }

// Policy returns the peer policy in force.
func (s *Server) Policy() *PeerPolicy { return s.policy }

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
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.QuotaPerUser < 0 || c.QuotaTotal < 0:
		return fmt.Errorf("%w: negative quota", ErrConfig)
	case c.MaxBitsPerSecond < 0:
		return fmt.Errorf("%w: negative MaxBitsPerSecond", ErrConfig)
	case (c.RelayPortMin == 0) != (c.RelayPortMax == 0) || c.RelayPortMin > c.RelayPortMax:
		return fmt.Errorf("%w: relay port range %d-%d", ErrConfig, c.RelayPortMin, c.RelayPortMax)
	case len(c.Secrets) == 0:
		return ErrNoSecret
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

// selfAddrs are the addresses that, with the TURN port, reach this server: relaying to them
// would let a client loop the relay into itself (a relayed address as a client of another
// allocation). With an unspecified listen address that is every local address.
func selfAddrs(listenIP, publicIP netip.Addr) map[netip.Addr]struct{} {
	self := map[netip.Addr]struct{}{publicIP: {}, listenIP: {}}
	if listenIP.IsUnspecified() {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					self[p.Addr().Unmap()] = struct{}{}
				}
			}
		}
	}
	return self
}

// peerAllowed is the full peer check where the port is known: the policy, then port 0 and
// this server's own TURN port.
func (s *Server) peerAllowed(p netip.AddrPort) (bool, string) {
	if ok, reason := s.policy.Allowed(p.Addr()); !ok {
		return false, reason
	}
	if p.Port() == 0 {
		return false, "port 0"
	}
	if _, self := s.self[normalize(p.Addr())]; self && p.Port() == s.port {
		return false, "this relay's own TURN port"
	}
	return true, ""
}

func (s *Server) refusedPeer(p netip.AddrPort, reason, where string) {
	s.metrics.refuse(refusedPolicy)
	s.log.Warn("turn: peer refused on relay socket", "peer", p.String(), "why", reason, "where", where)
}

// egress is the tests' last safety net before anything leaves a relay socket.
func (s *Server) egress(p netip.AddrPort) error {
	if s.cfg.hooks.egress == nil {
		return nil
	}
	return s.cfg.hooks.egress(p)
}

// permit is pion's PermissionHandler: CreatePermission (each XOR-PEER-ADDRESS), ChannelBind
// and Connect ask it. It only gets the IP.
func (s *Server) permit(client net.Addr, peerIP net.IP) bool {
	ok, reason := s.policy.Allowed(addrFromIP(peerIP))
	if !ok {
		s.metrics.refuse(refusedPolicy)
		s.log.Info("turn: permission refused", "client", client.String(), "peer", peerIP.String(), "why", reason)
	}
	return ok
}

// authenticate is pion's AuthHandler.
func (s *Server) authenticate(ra *pionturn.RequestAttributes) (string, []byte, bool) {
	user, key, ok, why := s.keys.auth(ra)
	if !ok {
		s.metrics.refuse(refusedAuth)
		s.log.Debug("turn: auth refused", "client", ra.SrcAddr.String(), "username", ra.Username,
			"method", ra.Method.String(), "why", string(why))
	}
	return user, key, ok
}

// onAuth counts MESSAGE-INTEGRITY failures (the AuthHandler gave a key; it did not verify).
func (s *Server) onAuth(src, _ net.Addr, _, username, _, method string, verdict bool) {
	if !verdict {
		s.metrics.refuse(refusedAuth)
		s.log.Debug("turn: auth refused", "client", src.String(), "username", username, "method", method,
			"why", "bad message integrity")
	}
}

// quotaOK is pion's QuotaHandler: a look only (see quota).
func (s *Server) quotaOK(user, _ string, src net.Addr) bool {
	if s.quota.full(user) {
		s.metrics.refuse(refusedQuota)
		s.log.Info("turn: allocation quota reached", "user", user, "client", src.String())
		return false
	}
	return true
}

// onPermission keeps the relay sockets' mirror of pion's permissions.
func (s *Server) onPermission(on bool) func(_, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
	return func(_, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
		s.relays.setPermission(relay, addrFromIP(peer), on)
	}
}
