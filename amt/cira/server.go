package cira

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/amt/apf"
)

// Server defaults, MPS's values.
const (
	DefaultKeepAliveInterval = 30 * time.Second
	DefaultIdleTimeout       = 90 * time.Second
	DefaultServerWindow      = 80 << 10 // 81920
	// maxForwards bounds the ports one device may forward (a real one forwards about seven).
	maxForwards = 64
	// keepAliveOptionsPort: MPS sends KEEPALIVE_OPTIONS only once this port is forwarded, the
	// last of a real AMT's forwards.
	keepAliveOptionsPort = 5900
)

// ServerConfig configures the MPS side.
type ServerConfig struct {
	// Authenticate checks a device's CIRA login (MPS: user equals the device's mpsusername and
	// password its stored MPS password). Nil refuses every login.
	Authenticate func(guid apf.GUID, user, password string) bool
	// Known says whether a GUID has a device record; MPS ends the link at PROTOCOL_VERSION
	// when it has none. Nil knows every GUID.
	Known func(guid apf.GUID) bool
	// KeepAliveInterval is what KEEPALIVE_OPTIONS asks for (default 30 s, whole seconds).
	KeepAliveInterval time.Duration
	// IdleTimeout drops a link that sends nothing for this long (default 90 s).
	IdleTimeout time.Duration
	// Window is the receive window advertised in CHANNEL_OPEN (default 81920).
	Window uint32
	Logger *slog.Logger
	// OnConnect and OnDisconnect report a device's link logging in and ending (or being
	// replaced). They run on the link's read loop: return quickly, and call Dial only from
	// another goroutine.
	OnConnect    func(guid apf.GUID)
	OnDisconnect func(guid apf.GUID)
}

// Server is the MPS side: it accepts device links and opens channels to their ports.
type Server struct {
	cfg ServerConfig
	log *slog.Logger

	mu        sync.Mutex
	devices   map[apf.GUID]*serverLink
	links     map[*serverLink]struct{}
	listeners map[net.Listener]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// serverLink is one device's link as the server sees it. Fields other than l are owned by the
// read loop, except sourcePort (mu of the link).
type serverLink struct {
	l          *link
	s          *Server
	log        *slog.Logger
	gotVersion bool
	authed     bool
	guid       apf.GUID
	ports      map[uint32]bool
	sourcePort uint32 // guarded by l.mu
}

// NewServer returns a Server; call Serve with a listener (TLS in production).
func NewServer(cfg ServerConfig) *Server {
	if cfg.KeepAliveInterval <= 0 {
		cfg.KeepAliveInterval = DefaultKeepAliveInterval
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultServerWindow
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:       cfg,
		log:       log,
		devices:   make(map[apf.GUID]*serverLink),
		links:     make(map[*serverLink]struct{}),
		listeners: make(map[net.Listener]struct{}),
	}
}

// Serve accepts device links on ln until ctx ends or Close; it closes ln and the links it
// accepted, and returns nil then, or the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		_ = ln.Close()
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		_ = ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || s.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("cira: accepting device links: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			return nil
		}
		s.wg.Add(1) // under mu, so never after Close started waiting
		wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// serveConn runs one device link to its end.
func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	log := s.log.With("remote", conn.RemoteAddr().String())
	if tc, ok := conn.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, s.cfg.IdleTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			log.Debug("CIRA TLS handshake failed", "err", err)
			_ = conn.Close()
			return
		}
	}
	sl := &serverLink{
		l:     newLink(conn, log, s.cfg.IdleTimeout, 4), // MPS numbers its channels from 4
		s:     s,
		log:   log,
		ports: make(map[uint32]bool),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = conn.Close()
		return
	}
	s.links[sl] = struct{}{}
	s.mu.Unlock()
	s.runLink(ctx, sl)
}

// runLink serves an admitted link until it ends, then unregisters it.
func (s *Server) runLink(ctx context.Context, sl *serverLink) {
	l := sl.l
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.writeLoop() }()
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			l.fail(errLocalClose)
		case <-l.done:
		}
	}()
	err := l.readLoop(sl.handle)
	l.fail(err)
	wg.Wait()
	sl.log.Debug("CIRA link ended", "cause", l.cause())

	s.mu.Lock()
	delete(s.links, sl)
	registered := s.devices[sl.guid] == sl
	if registered {
		delete(s.devices, sl.guid)
	}
	s.mu.Unlock()
	if registered && s.cfg.OnDisconnect != nil {
		s.cfg.OnDisconnect(sl.guid)
	}
}

var errUnknownDevice = errors.New("unknown device GUID")

func (sl *serverLink) handle(m apf.Message) error {
	if pv, ok := m.(*apf.ProtocolVersion); ok {
		return sl.protocolVersion(pv)
	}
	if !sl.gotVersion {
		return fmt.Errorf("%w: message %d before PROTOCOL_VERSION", ErrProtocol, m.Type())
	}
	switch m := m.(type) {
	case *apf.ServiceRequest:
		// MPS answers these two and ignores any other service.
		if m.Service == apf.ServiceAuth || m.Service == apf.ServicePortForward {
			sl.l.send(&apf.ServiceAccept{Service: m.Service})
		}
		return nil
	case *apf.UserAuthRequest:
		return sl.userAuth(m)
	case *apf.KeepAliveRequest:
		sl.l.send(&apf.KeepAliveReply{Cookie: m.Cookie})
		return nil
	case *apf.KeepAliveReply, *apf.KeepAliveOptionsReply:
		return nil
	case *apf.Disconnect:
		return fmt.Errorf("%w: device sent DISCONNECT (reason %d)", ErrLinkDown, m.Reason)
	}
	if !sl.authed {
		return fmt.Errorf("%w: message %d before login", ErrProtocol, m.Type())
	}
	if ok, err := sl.l.handleChannel(m); ok {
		return err
	}
	switch m := m.(type) {
	case *apf.GlobalRequest:
		sl.globalRequest(m)
	case *apf.ChannelOpen:
		// MPS refuses channels a device opens.
		sl.l.send(&apf.ChannelOpenFailure{Recipient: m.Sender, Reason: apf.OpenUnknownChannelType})
	default:
		return fmt.Errorf("%w: unexpected message %d from device", ErrProtocol, m.Type())
	}
	return nil
}

func (sl *serverLink) protocolVersion(m *apf.ProtocolVersion) error {
	if sl.gotVersion {
		return fmt.Errorf("%w: second PROTOCOL_VERSION", ErrProtocol)
	}
	sl.gotVersion = true
	sl.guid = m.GUID
	sl.log = sl.log.With("guid", m.GUID.String())
	sl.l.log = sl.log
	if sl.s.cfg.Known != nil && !sl.s.cfg.Known(m.GUID) {
		sl.log.Warn("CIRA link from an unknown device, closing")
		return errUnknownDevice
	}
	return nil
}

func (sl *serverLink) userAuth(m *apf.UserAuthRequest) error {
	if sl.authed {
		return fmt.Errorf("%w: second USERAUTH_REQUEST", ErrProtocol)
	}
	auth := sl.s.cfg.Authenticate
	if auth == nil || !auth(sl.guid, m.User, m.Password) {
		sl.log.Warn("CIRA login refused", "user", m.User)
		// MPS leaves closing to the device, which has nothing left to do; we close after the
		// answer so a wrong password cannot retry on the same link.
		sl.l.sendThenClose(&apf.UserAuthFailure{Methods: apf.MethodPassword})
		return nil
	}
	sl.authed = true
	old := sl.s.register(sl)
	if old != nil {
		sl.log.Info("new CIRA login replaces the device's old link")
		old.l.fail(errReplaced)
		if sl.s.cfg.OnDisconnect != nil {
			sl.s.cfg.OnDisconnect(sl.guid)
		}
	}
	sl.l.send(&apf.UserAuthSuccess{})
	sl.log.Info("CIRA device connected")
	if sl.s.cfg.OnConnect != nil {
		sl.s.cfg.OnConnect(sl.guid)
	}
	return nil
}

// register makes sl the device's link and returns the one it replaces.
func (s *Server) register(sl *serverLink) *serverLink {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.devices[sl.guid]
	s.devices[sl.guid] = sl
	return old
}

func (sl *serverLink) globalRequest(m *apf.GlobalRequest) {
	switch m.Name {
	case apf.TCPIPForward:
		if !sl.ports[m.Port] && len(sl.ports) >= maxForwards {
			sl.l.send(&apf.RequestFailure{})
			return
		}
		sl.ports[m.Port] = true
		// MPS answers whatever wantReply says.
		sl.l.send(&apf.RequestSuccess{Port: m.Port})
		if m.Port == keepAliveOptionsPort {
			sl.l.send(&apf.KeepAliveOptionsRequest{Interval: uint32(sl.s.cfg.KeepAliveInterval / time.Second)})
		}
	case apf.CancelTCPIPForward:
		delete(sl.ports, m.Port)
		sl.l.send(&apf.RequestSuccess{Bare: true})
	}
}

// Connected reports whether the device has a logged-in CIRA link.
func (s *Server) Connected(guid apf.GUID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.devices[guid] != nil
}

// Dial opens a channel to port on the device, as MPS does (forwarded-tcpip, window
// s.Window, origin 1.2.3.4). It fails with ErrNotConnected when the device has no link and
// ErrRefused when the device refuses.
func (s *Server) Dial(ctx context.Context, guid apf.GUID, port uint16) (net.Conn, error) {
	s.mu.Lock()
	sl := s.devices[guid]
	s.mu.Unlock()
	if sl == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotConnected, guid)
	}
	l := sl.l
	c := newChannel(l, s.cfg.Window, chanOpening)
	c.laddr = Addr{Host: "1.2.3.4"}
	c.raddr = Addr{Host: guid.String(), Port: uint32(port)}
	if err := l.addChannel(c); err != nil {
		return nil, fmt.Errorf("cira: opening channel to %s port %d: %w", guid, port, err)
	}
	l.mu.Lock()
	src := sl.sourcePort%30000 + 1024 // MPS's origin ports
	sl.sourcePort++
	l.mu.Unlock()
	c.laddr.Port = src
	l.send(&apf.ChannelOpen{
		ChannelType: apf.ForwardedTCPIP, Sender: c.local, Window: s.cfg.Window, MaxPacket: maxPacketAny,
		Port: uint32(port), OriginAddr: "1.2.3.4", OriginPort: src,
	})
	if err := c.waitOpen(ctx); err != nil {
		return nil, fmt.Errorf("cira: opening channel to %s port %d: %w", guid, port, err)
	}
	return c, nil
}

// Disconnect ends the device's link, as MPS's device disconnect does. OnDisconnect runs
// before it returns.
func (s *Server) Disconnect(guid apf.GUID) {
	s.mu.Lock()
	sl := s.devices[guid]
	delete(s.devices, guid)
	s.mu.Unlock()
	if sl == nil {
		return
	}
	sl.l.fail(errLocalClose)
	if s.cfg.OnDisconnect != nil {
		s.cfg.OnDisconnect(guid)
	}
}

// Close stops every Serve, ends every link and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	lns := make([]net.Listener, 0, len(s.listeners))
	for ln := range s.listeners {
		lns = append(lns, ln)
	}
	links := make([]*serverLink, 0, len(s.links))
	for sl := range s.links {
		links = append(links, sl)
	}
	s.mu.Unlock()
	for _, ln := range lns {
		_ = ln.Close()
	}
	for _, sl := range links {
		sl.l.fail(errLocalClose)
	}
	s.wg.Wait()
	return nil
}
