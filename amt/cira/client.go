package cira

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kvmrelay/kvmrelay/amt/apf"
)

// DefaultPorts returns the AMT ports a device forwards unless told otherwise: WS-Man (16992,
// TLS 16993) and redirection (16994, TLS 16995).
func DefaultPorts() []uint16 { return []uint16{16992, 16993, 16994, 16995} }

// Client defaults.
const (
	DefaultClientKeepAlive = 30 * time.Second
	DefaultClientWindow    = 32 << 10 // unconfirmed for real AMT; MPS's minimum CIRA window
)

// ClientConfig configures the device side of a CIRA link.
type ClientConfig struct {
	GUID     apf.GUID
	User     string // the MPS user name provisioned into AMT
	Password string // the MPS password provisioned into AMT
	// Ports are forwarded with tcpip-forward, in this order (default DefaultPorts()).
	Ports []uint16
	// Accept runs in its own goroutine for each channel MPS opens to a forwarded port; it owns
	// ch and should close it. Without Accept, channel opens are refused.
	Accept func(port uint16, ch net.Conn)
	// KeepAliveInterval is how often the device sends KEEPALIVE_REQUEST until MPS negotiates
	// an interval with KEEPALIVE_OPTIONS (default 30 s; MPS drops a link idle for 90 s).
	KeepAliveInterval time.Duration
	// Window is the receive window the device advertises per channel (default 32 KiB).
	Window uint32
	// IdleTimeout ends the link when MPS sends nothing for this long (default three
	// keep-alive intervals, at least 90 s).
	IdleTimeout time.Duration
	Logger      *slog.Logger
}

type loginState int

const (
	stateAuthService loginState = iota // SERVICE_REQUEST auth@ sent
	stateAuth                          // USERAUTH_REQUEST sent
	statePfwdService                   // SERVICE_REQUEST pfwd@ sent
	stateForwarding                    // tcpip-forward requests in flight
	stateReady
)

// Client is the device side of one CIRA link.
type Client struct {
	cfg ClientConfig
	l   *link
	log *slog.Logger

	// Owned by the read loop.
	state     loginState
	forwardAt int
	forwarded map[uint32]bool
	accepts   sync.WaitGroup

	ready     chan struct{}
	kaMu      sync.Mutex
	kaEvery   time.Duration
	kaChanged chan struct{}
	cookie    uint32

	started atomic.Bool
	runDone chan struct{}
}

// Dial connects to an MPS's CIRA port over TLS and returns a Client for the link; call Run.
func Dial(ctx context.Context, addr string, tlsConfig *tls.Config, cfg ClientConfig) (*Client, error) {
	d := tls.Dialer{Config: tlsConfig}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cira: connecting to MPS at %s: %w", addr, err)
	}
	return NewClient(conn, cfg), nil
}

// NewClient returns a Client that runs the device side over conn (TLS in production). Nothing
// is sent until Run.
func NewClient(conn net.Conn, cfg ClientConfig) *Client {
	if len(cfg.Ports) == 0 {
		cfg.Ports = DefaultPorts()
	}
	cfg.Ports = slices.Clone(cfg.Ports)
	if cfg.KeepAliveInterval <= 0 {
		cfg.KeepAliveInterval = DefaultClientKeepAlive
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultClientWindow
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = max(3*cfg.KeepAliveInterval, 90*time.Second)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("guid", cfg.GUID.String())
	return &Client{
		cfg:       cfg,
		l:         newLink(conn, log, cfg.IdleTimeout, 1),
		log:       log,
		forwarded: make(map[uint32]bool),
		ready:     make(chan struct{}),
		kaEvery:   cfg.KeepAliveInterval,
		kaChanged: make(chan struct{}, 1),
		runDone:   make(chan struct{}),
	}
}

// Ready is closed once the device is logged in and MPS has accepted every port forward.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// Run logs in and serves the link until it ends: nil after Close, ErrAuthFailed or
// ErrRejected when the login fails, ctx's error when ctx ends, else an error wrapping
// ErrLinkDown or ErrProtocol. It returns only after every Accept goroutine has returned.
func (c *Client) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("cira: Client.Run called twice")
	}
	defer close(c.runDone)
	l := c.l
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); l.writeLoop() }()
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			l.fail(ctx.Err())
		case <-l.done:
		}
	}()
	go func() { defer wg.Done(); c.keepAlive() }()

	// Like the reference CIRA clients, the version and the first service request go together.
	l.send(&apf.ProtocolVersion{Major: 1, Minor: 0, Trigger: 0, GUID: c.cfg.GUID})
	l.send(&apf.ServiceRequest{Service: apf.ServiceAuth})
	err := l.readLoop(c.handle)
	l.fail(err)
	wg.Wait()
	c.accepts.Wait()
	return c.result()
}

func (c *Client) result() error {
	err := c.l.cause()
	switch {
	case errors.Is(err, errLocalClose):
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrAuthFailed), errors.Is(err, ErrProtocol):
		return err
	case c.state != stateReady && errors.Is(err, ErrLinkDown):
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return c.l.downErr()
}

// Close ends the link (TLS close, no APF goodbye) and waits for Run to return if it runs.
func (c *Client) Close() error {
	c.l.fail(errLocalClose)
	if c.started.Load() {
		<-c.runDone
	}
	return nil
}

// Drop cuts the link abruptly (TCP reset): the CIRA link drop a test or the simulator
// injects. Run returns an error wrapping ErrLinkDown.
func (c *Client) Drop() { c.l.drop() }

func (c *Client) handle(m apf.Message) error {
	if ok, err := c.l.handleChannel(m); ok {
		return err
	}
	switch m := m.(type) {
	case *apf.ServiceAccept:
		return c.serviceAccepted(m.Service)
	case *apf.UserAuthSuccess:
		if c.state != stateAuth {
			return fmt.Errorf("%w: USERAUTH_SUCCESS without a request", ErrProtocol)
		}
		c.state = statePfwdService
		c.l.send(&apf.ServiceRequest{Service: apf.ServicePortForward})
	case *apf.UserAuthFailure:
		return ErrAuthFailed
	case *apf.RequestSuccess:
		return c.forwardAnswered(true)
	case *apf.RequestFailure:
		return c.forwardAnswered(false)
	case *apf.KeepAliveRequest:
		c.l.send(&apf.KeepAliveReply{Cookie: m.Cookie})
	case *apf.KeepAliveReply:
	case *apf.KeepAliveOptionsRequest:
		c.l.send(&apf.KeepAliveOptionsReply{Interval: m.Interval, Timeout: m.Timeout})
		if m.Interval > 0 {
			c.setKeepAlive(time.Duration(m.Interval) * time.Second)
		}
	case *apf.ChannelOpen:
		c.channelOpen(m)
	case *apf.Disconnect:
		return fmt.Errorf("%w: MPS sent DISCONNECT (reason %d)", ErrLinkDown, m.Reason)
	default:
		return fmt.Errorf("%w: unexpected message %d from MPS", ErrProtocol, m.Type())
	}
	return nil
}

func (c *Client) serviceAccepted(service string) error {
	switch {
	case c.state == stateAuthService && service == apf.ServiceAuth:
		c.state = stateAuth
		c.l.send(&apf.UserAuthRequest{User: c.cfg.User, Service: apf.ServicePortForward, Password: c.cfg.Password})
	case c.state == statePfwdService && service == apf.ServicePortForward:
		c.state = stateForwarding
		c.forwardNext()
	default:
		return fmt.Errorf("%w: unexpected SERVICE_ACCEPT %q", ErrProtocol, service)
	}
	return nil
}

// forwardNext asks for the next port; like the reference clients, one request at a time.
func (c *Client) forwardNext() {
	port := c.cfg.Ports[c.forwardAt]
	c.l.send(&apf.GlobalRequest{Name: apf.TCPIPForward, WantReply: true, Port: uint32(port)})
}

func (c *Client) forwardAnswered(ok bool) error {
	if c.state != stateForwarding {
		return fmt.Errorf("%w: global request answer without a request", ErrProtocol)
	}
	port := c.cfg.Ports[c.forwardAt]
	if ok {
		c.forwarded[uint32(port)] = true
	} else {
		c.log.Warn("MPS refused a port forward", "port", port)
	}
	c.forwardAt++
	if c.forwardAt < len(c.cfg.Ports) {
		c.forwardNext()
		return nil
	}
	c.state = stateReady
	c.log.Info("CIRA link up", "ports", c.cfg.Ports)
	close(c.ready)
	return nil
}

// channelOpen accepts MPS's channel to a forwarded port and starts Accept on it.
func (c *Client) channelOpen(m *apf.ChannelOpen) {
	reason := uint32(0)
	switch {
	case m.ChannelType != apf.ForwardedTCPIP:
		reason = apf.OpenUnknownChannelType
	case !c.forwarded[m.Port] || m.Port > 0xffff:
		reason = apf.OpenAdministrativelyProhibited
	case c.cfg.Accept == nil:
		reason = apf.OpenConnectFailed
	}
	var ch *Channel
	if reason == 0 {
		ch = newChannel(c.l, c.cfg.Window, chanOpen)
		ch.setPeer(m.Sender, m.Window, m.MaxPacket)
		ch.laddr = Addr{Host: c.cfg.GUID.String(), Port: m.Port}
		ch.raddr = Addr{Host: m.OriginAddr, Port: m.OriginPort}
		if err := c.l.addChannel(ch); err != nil {
			reason = apf.OpenResourceShortage
		}
	}
	if reason != 0 {
		c.log.Debug("refusing channel", "type", m.ChannelType, "port", m.Port, "reason", reason)
		c.l.send(&apf.ChannelOpenFailure{Recipient: m.Sender, Reason: reason})
		return
	}
	c.l.send(&apf.ChannelOpenConfirmation{Recipient: m.Sender, Sender: ch.local, Window: c.cfg.Window, MaxPacket: maxPacketAny})
	port := uint16(m.Port)
	c.accepts.Add(1)
	go func() {
		defer c.accepts.Done()
		c.cfg.Accept(port, ch)
	}()
}

func (c *Client) setKeepAlive(d time.Duration) {
	c.kaMu.Lock()
	c.kaEvery = d
	c.kaMu.Unlock()
	select {
	case c.kaChanged <- struct{}{}:
	default:
	}
}

func (c *Client) keepAliveEvery() time.Duration {
	c.kaMu.Lock()
	defer c.kaMu.Unlock()
	return c.kaEvery
}

// keepAlive sends KEEPALIVE_REQUEST at the negotiated interval once the link is up.
func (c *Client) keepAlive() {
	select {
	case <-c.ready:
	case <-c.l.done:
		return
	}
	t := time.NewTimer(c.keepAliveEvery())
	defer t.Stop()
	for {
		select {
		case <-c.l.done:
			return
		case <-c.kaChanged:
			t.Reset(c.keepAliveEvery())
		case <-t.C:
			c.cookie++
			c.l.send(&apf.KeepAliveRequest{Cookie: c.cookie})
			t.Reset(c.keepAliveEvery())
		}
	}
}
