package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// Server is the embedded TURN server: UDP and TCP listeners on one port (and TLS on another
// where configured), served by pion/turn behind the guard, with the policy, quotas,
// bandwidth cap and metrics of this package.
type Server struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	policy  *PeerPolicy
	keys    *keyring
	quota   *quota
	revoked *revocations
	metrics *metrics
	relays  *relays
	so      sockets
	self    map[netip.Addr]struct{} // addresses of this relay; with port turnPort they are refused peers
	port    uint16                  // of the UDP and TCP listeners
	tlsPort uint16

	udp  []*guardPacketConn
	tcp  *guardListener // nil: no TCP (an injected Net without it)
	tls  *guardListener // nil: no TLS configured
	pion *pionturn.Server

	// The fast path (fastpath.go): UDP client address → its allocation's relay socket; and
	// the loops reading the UDP relay sockets (relay_loop_linux.go), nil where each is read by
	// pion's goroutine of its allocation.
	udpClients sync.Map
	loops      *relayLoops

	ctx    context.Context // ends dials and waits on Close
	cancel context.CancelFunc
	ops    ops

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, opens the listeners and starts serving. Errors wrap the cause
// (ErrConfig, ErrNoPublicIP, ErrNoSecret, ErrWeakSecret, or the listen error).
func New(cfg Config) (*Server, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	listenIP, err := cfg.listenIP()
	if err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	if cfg.tlsEnabled() {
		if tlsCfg, err = cfg.serverTLSConfig(); err != nil {
			return nil, err
		}
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
		policy:  NewPeerPolicy(cfg.AllowPeers, cfg.DenyPeers).WithServicePeers(serviceAddrs(cfg.ServicePeers)),
		keys:    newKeyring(cfg.Secrets, cfg.Realm, now),
		quota:   newQuota(cfg.QuotaPerUser, cfg.QuotaTotal),
		revoked: newRevocations(),
		metrics: m,
		so:      newSockets(cfg.Net),
		ctx:     ctx,
		cancel:  cancel,
	}
	s.relays = newRelays(s, listenIP, cfg.PublicIP, cfg.RelayPortMin, cfg.RelayPortMax)
	if err := s.listen(tlsCfg); err != nil {
		cancel()
		m.unregister(cfg.Registerer)
		return nil, err
	}
	s.self = s.selfAddrs(listenIP, cfg.PublicIP)
	if s.loops, err = newRelayLoops(s); err != nil {
		s.log.Warn("turn: no relay loops; each relay socket is read by its own goroutine", "err", err)
	}
	if s.pion, err = pionturn.NewServer(s.pionConfig()); err != nil {
		cancel()
		s.loops.stop()
		s.closeListeners()
		m.unregister(cfg.Registerer)
		return nil, fmt.Errorf("turn: start pion server: %w", err)
	}
	s.log.Info("turn: listening", "udp", s.UDPAddr().String(), "udp_sockets", len(s.udp),
		"tcp", addrString(s.TCPAddr()), "tls", addrString(s.TLSAddr()),
		"public_ip", cfg.PublicIP.String(), "realm", cfg.Realm)
	s.logServicePeers()
	return s, nil
}

// listen opens the UDP, TCP and TLS listeners, each behind the guard.
func (s *Server) listen(tlsCfg *tls.Config) error {
	nUDP := s.cfg.UDPSockets
	if !s.so.sharesPorts() {
		nUDP = 1
	}
	ls, err := listenPair(s.ctx, s.so, s.cfg.ListenAddr, nUDP)
	if err != nil {
		return fmt.Errorf("turn: listen on %s: %w", s.cfg.ListenAddr, err)
	}
	s.port = ls.port()
	if ls.steerErr != nil {
		s.log.Warn("turn: one UDP socket only: cannot steer a SO_REUSEPORT group by client", "err", ls.steerErr)
	}
	for i, pc := range ls.udp {
		if err := setSocketBuffers(pc, listenerSocketBuffer); err != nil {
			s.log.Warn("turn: UDP listener socket buffers", "err", err)
		}
		s.udp = append(s.udp, &guardPacketConn{PacketConn: pc, s: s, index: i, raw: newRawUDP(pc)})
	}
	maxConns := 4*s.cfg.QuotaTotal + 64
	if ls.tcp != nil {
		s.tcp = newGuardListener(s.guardConns("turn-tcp", ls.tcp), s, maxConns)
	}
	if tlsCfg != nil {
		ln, err := listenTLS(s.ctx, s.so, s.cfg.TLSListenAddr, tlsCfg, func(ln net.Listener) net.Listener { return s.guardConns("turn-tls", ln) })
		if err != nil {
			ls.close()
			return fmt.Errorf("turn: listen on %s: %w", s.cfg.TLSListenAddr, err)
		}
		s.tls = newGuardListener(ln, s, maxConns)
		if a, ok := addrPortOf(ln.Addr()); ok {
			s.tlsPort = a.Port()
		}
	}
	return nil
}

// guardConns puts a TCP listener under the shared connection guard, if there is one.
func (s *Server) guardConns(name string, ln net.Listener) net.Listener {
	if s.cfg.Conns == nil {
		return ln
	}
	return s.cfg.Conns.Listener(name, ln)
}

// closeListeners closes what listen opened, for a New that fails after it.
func (s *Server) closeListeners() {
	for _, g := range s.udp {
		_ = g.Close()
	}
	for _, g := range []*guardListener{s.tcp, s.tls} {
		if g != nil {
			_ = g.Listener.Close()
		}
	}
}

// pionConfig hands every listener to pion with this package's hooks.
func (s *Server) pionConfig() pionturn.ServerConfig {
	cfg := pionturn.ServerConfig{
		LoggerFactory: pionLogs{log: s.log},
		Realm:         s.cfg.Realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.quotaOK,
		EventHandler: pionturn.EventHandler{
			OnAuth:              s.onAuth,
			OnPermissionCreated: s.onPermission(true),
			OnPermissionDeleted: s.onPermission(false),
			OnAllocationCreated: s.onAllocationCreated,
			OnChannelCreated:    s.onChannel(true),
			OnChannelDeleted:    s.onChannel(false),
		},
	}
	for _, g := range s.udp {
		cfg.PacketConnConfigs = append(cfg.PacketConnConfigs, pionturn.PacketConnConfig{
			PacketConn: g, RelayAddressGenerator: s.relays, PermissionHandler: s.permit,
		})
	}
	for _, g := range []*guardListener{s.tcp, s.tls} {
		if g != nil {
			cfg.ListenerConfigs = append(cfg.ListenerConfigs, pionturn.ListenerConfig{
				Listener: g, RelayAddressGenerator: s.relays, PermissionHandler: s.permit,
			})
		}
	}
	return cfg
}

// Close stops the listeners, ends every allocation and connection, and returns once the
// goroutines serving them have let go of our sockets. Safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.ops.close()
		err := s.pion.Close() // closes the UDP sockets and the TCP and TLS listeners
		for _, g := range []*guardListener{s.tcp, s.tls} {
			if g != nil {
				g.closeConns() // pion leaves accepted connections open
			}
		}
		s.relays.closeAll()
		s.loops.stop()
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
func (s *Server) UDPAddr() net.Addr { return s.udp[0].LocalAddr() }

// TCPAddr is the TCP listener's address, nil when there is none (Config.Net without TCP).
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// TLSAddr is the TLS listener's address, nil without TLSListenAddr.
func (s *Server) TLSAddr() net.Addr {
	if s.tls == nil {
		return nil
	}
	return s.tls.Addr()
}

func addrString(a net.Addr) string {
	if a == nil {
		return "none"
	}
	return a.String()
}

// Policy returns the peer policy in force.
func (s *Server) Policy() *PeerPolicy { return s.policy }
