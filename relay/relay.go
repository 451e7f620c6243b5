package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/denied"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/internal/netguard"
	"github.com/kvmrelay/kvmrelay/relay/fanout"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
	"github.com/kvmrelay/kvmrelay/turn"
)

// Relay is one running kvmrelay server.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	app     *fiber.App
	ln      net.Listener
	conns   *netguard.Guard // the HTTP and TURN TCP/TLS listeners' shared connection budget
	issuer  *auth.Issuer
	onetime *auth.OneTime
	shared  *sharedState
	store   store.Store
	devices *devices
	control *controlPlane
	pruner  *spentPruner
	adopter *adopter // gateways' machines by MPS tag
	sig     *signaling.Server
	fanout  *fanout.Hub
	viewers *fanout.Viewers
	// recorder records what devices' consoles watch, when their organization's policy asks.
	recorder *sessionRecorder
	turn     *turn.Server
	metrics  *prometheus.Registry
	served   chan error
	denied   *denied.Auditor // refused attempts to the audit chain, one budget per principal
}

// New builds a relay and opens its listeners (HTTP and TURN), so the addresses are known and
// bound before Serve is called.
func New(cfg Config) (*Relay, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") {
		return nil, fmt.Errorf("relay: public URL %q must be http(s)://host[:port]", cfg.PublicURL)
	}
	keys, err := auth.LoadOrCreateKeyring(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	issuer, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Name: IssuerName})
	if err != nil {
		return nil, err
	}
	// undo releases, in reverse, what New opened before it failed.
	var undo []func()
	fail := func(err error) (*Relay, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return nil, err
	}
	st, err := openStore(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = st.Close() })
	shared, err := openSharedState(context.Background(), cfg)
	if err != nil {
		return fail(err)
	}
	undo = append(undo, func() { _ = shared.Close() })
	r := &Relay{
		shared:  shared,
		store:   st,
		cfg:     cfg,
		log:     cfg.Logger,
		issuer:  issuer,
		onetime: auth.NewOneTime(nil),
		metrics: prometheus.NewRegistry(),
		served:  make(chan error, 1),
	}
	// One budget for refused attempts, signaling's and the API's alike.
	r.denied = denied.New(denied.Config{Store: st, Logger: cfg.Logger.With("component", "denied")})
	r.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if r.devices, err = openDevices(context.Background(), cfg, st); err != nil {
		return fail(err)
	}
	if r.control, err = newControlPlane(cfg, st, issuer, cfg.Logger); err != nil {
		return fail(err)
	}
	undo = append(undo, func() { _ = r.control.close() })

	r.conns, err = netguard.New(netguard.Config{
		MaxPerAddress:    cfg.Conns.MaxPerAddress,
		Exempt:           cfg.TrustedProxies,
		Reserve:          cfg.Conns.Reserve,
		FirstByteTimeout: cfg.Conns.FirstByteTimeout,
		Registerer:       r.metrics,
		Logger:           cfg.Logger.With("component", "conns"),
	})
	if err != nil {
		return fail(fmt.Errorf("relay: connection limits: %w", err))
	}
	undo = append(undo, r.conns.Close)

	if cfg.TURN != nil {
		tcfg := *cfg.TURN
		tcfg.Logger = cfg.Logger.With("component", "turn")
		tcfg.Registerer = r.metrics
		tcfg.Conns = r.conns
		if r.turn, err = turn.New(tcfg); err != nil {
			return fail(fmt.Errorf("relay: start TURN on %s: %w", tcfg.ListenAddr, err))
		}
		undo = append(undo, func() { _ = r.closeTURN() })
	}
	var ice signaling.ICEProvider
	switch {
	case r.turn != nil:
		ice = turnICE{srv: r.turn, ttl: cfg.CredentialTTL, only: cfg.TURNAdvertise}
	case cfg.ExternalTURN != nil:
		ice = externalICE{cfg: *cfg.ExternalTURN, ttl: cfg.CredentialTTL, now: time.Now}
	}
	// Listen before signaling is built: its own origin is the public URL, which defaults to
	// the bound address (a --listen port of 0 is only known now).
	if r.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fail(fmt.Errorf("relay: listen on %s: %w (is another kvmrelay running? choose another --listen)", cfg.Listen, err))
	}
	r.ln = r.devices.listener(r.conns.Listener("http", r.ln))
	undo = append(undo, func() { _ = r.ln.Close() })
	r.log.Info("relay: connection limits", "budget", r.conns.Budget(), "per_address", r.conns.MaxPerAddress(), "first_byte_timeout", r.conns.FirstByteTimeout())
	r.recorder = newSessionRecorder(controlAuditor{r.control.sessions}, cfg.Logger.With("component", "recorder"))
	late := &lateViewers{}
	r.sig, err = signaling.NewServer(signaling.Config{
		Bus:             shared.bus,
		Registry:        shared.registry,
		Issuer:          issuer,
		ICE:             ice,
		PublicURL:       r.URL(),
		AllowedOrigins:  cfg.AllowedOrigins,
		ConsoleTokenTTL: cfg.ConsoleTokenTTL,
		Sessions:        sessionGate{r.control.sessions},
		// A connected console touches its session at each check; the reconnect grace must
		// hold several of them.
		SessionCheckInterval: min(15*time.Second, cfg.ConsoleReconnectGrace/3),
		Lifecycle:            r.control.sessions,
		AgentAuth:            r.authenticateAgent,
		OnHeartbeat:          r.recordHeartbeat,
		OnMachines:           r.recordMachines,
		OnAgentGone:          func(_ auth.Claims, conn string) { r.devices.reports.Gone(conn) },
		OnForbidden:          signalingDenied(r.denied),
		OnSessionEnd:         r.turnRevoker(),
		Consent:              consentRecorder{r.control.sessions},
		Names:                r.control.sessions,
		Control:              r.recorder,
		KeyCapture:           r.control.recordings,
		Keys:                 r.recorder,
		Viewers:              late,
		P2PViewers:           cfg.p2pViewers(),
		Logger:               cfg.Logger.With("component", "signaling"),
		Metrics:              signaling.NewMetrics(r.metrics),
	})
	if err != nil {
		return fail(err)
	}
	// Signaling closes before the control plane (undo runs in reverse): no console is left
	// waiting on a reconciler that is gone.
	undo = append(undo, func() { _ = r.sig.Close() })
	if r.fanout, r.viewers, err = newFanout(cfg.Listen, r.sig, ice, r.metrics, cfg.Logger.With("component", "fanout")); err != nil {
		return fail(err)
	}
	undo = append(undo, r.fanout.Close, r.viewers.Close)
	late.v.Store(r.viewers)
	if err := r.control.start(r); err != nil {
		return fail(err)
	}
	r.recorder.start(r.fanout, r.control.recordings, r.control.sessions, r.sig)
	undo = append(undo, r.recorder.close)
	r.pruner = startSpentPruner(st, cfg.Logger.With("component", "single-use"))
	undo = append(undo, r.pruner.stop)
	devSvc, err := device.NewService(device.ServiceConfig{Store: st, Sessions: r.control.sessions, Agents: deviceCutter{r.sig}})
	if err != nil {
		return fail(err)
	}
	r.adopter = startAdopter(devSvc, r.devices.reports, cfg.Logger.With("component", "adopt"))
	undo = append(undo, r.adopter.stop)
	r.app = r.newApp()
	return r, nil
}

// IssuerName is the iss claim of every token this deployment signs. Tokens are bound to the
// signing key in the data directory; the name is fixed so that a relay reached under several
// URLs accepts its own tokens.
const IssuerName = "kvmrelay"

// Serve serves HTTP until ctx ends or Close is called.
func (r *Relay) Serve(ctx context.Context) error {
	go func() { r.served <- r.app.Listener(r.ln) }()
	select {
	case <-ctx.Done():
		return r.Close()
	case err := <-r.served:
		r.served <- err
		if err != nil {
			return fmt.Errorf("relay: serve: %w", err)
		}
		return nil
	}
}

// Addr is the bound HTTP address.
func (r *Relay) Addr() net.Addr { return r.ln.Addr() }

// URL is the base URL of the bound HTTP listener.
func (r *Relay) URL() string {
	if r.cfg.PublicURL != r.cfg.scheme()+"://"+r.cfg.Listen {
		return strings.TrimRight(r.cfg.PublicURL, "/")
	}
	return r.cfg.scheme() + "://" + r.ln.Addr().String()
}

// Issuer signs and checks the relay's tokens.
func (r *Relay) Issuer() *auth.Issuer { return r.issuer }

// Store is the control-plane store.
func (r *Relay) Store() store.Store { return r.store }

// TURN is the embedded TURN server, or nil.
func (r *Relay) TURN() *turn.Server { return r.turn }

// Close stops the relay: connections, HTTP, the bus and registry (Redis), TURN, the store.
func (r *Relay) Close() error {
	var errs []error
	// Recordings first (their files closed and catalogued), then the relayed streams: their
	// uplinks say bye to the agents through signaling's bus.
	r.recorder.close()
	r.viewers.Close()
	r.fanout.Close()
	errs = append(errs, r.sig.Close())
	if err := r.app.ShutdownWithTimeout(5 * time.Second); err != nil {
		errs = append(errs, err)
	}
	r.pruner.stop()
	r.adopter.stop()
	errs = append(errs, r.control.close())
	errs = append(errs, r.shared.Close())
	errs = append(errs, r.closeTURN())
	errs = append(errs, r.store.Close())
	r.conns.Close()
	return errors.Join(errs...)
}

func (r *Relay) closeTURN() error {
	if r.turn == nil {
		return nil
	}
	return r.turn.Close()
}

// turnICE adapts the TURN server to signaling's ICEProvider.
type turnICE struct {
	srv  *turn.Server
	ttl  time.Duration
	only []TURNTransport
}

func (t turnICE) ICEServers(user string) []wire.ICEServer {
	in := t.srv.ICEServers(user, t.ttl)
	out := make([]wire.ICEServer, 0, len(in))
	for _, s := range in {
		urls := filterTURNURLs(s.URLs, t.only)
		if len(urls) == 0 {
			continue
		}
		out = append(out, wire.ICEServer{URLs: urls, Username: s.Username, Credential: s.Credential})
	}
	return out
}
