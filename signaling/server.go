package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/internal/peerconn"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// ICEProvider hands out STUN/TURN servers with fresh credentials for one session.
type ICEProvider interface {
	ICEServers(user string) []wire.ICEServer
}

// Config configures a Server.
type Config struct {
	Bus      Bus
	Registry Registry
	Issuer   *auth.Issuer
	// ICE may be nil: peers then only have host candidates.
	ICE ICEProvider
	// PublicURL is how browsers reach the relay (--public-url): its origin, scheme included, may
	// open console WebSockets. AllowedOrigins lists further origins (scheme://host[:port]).
	// Only these two decide: never the request's Host or X-Forwarded-Host. Both empty: only
	// clients that send no Origin (agents, kvmctl, other non-browsers) connect.
	PublicURL      string
	AllowedOrigins []string
	// ConsoleTokenTTL is the lifetime of refreshed console tokens.
	ConsoleTokenTTL time.Duration
	// Sessions checks consoles of control-plane sessions (tokens naming a tenant) against the
	// stored session, at the upgrade and every SessionCheckInterval while connected. Nil, or a
	// token without a tenant (minted with the relay's own key by `kvmrelay token console`),
	// leaves the token alone to decide.
	Sessions SessionGate
	// OnForbidden, when set, is told of every message a peer addressed to a session or device
	// it does not hold (SECURITY.md item 4), after it was refused and before anything else
	// happens; the relay audits it. tenant and principal are the sender's.
	OnForbidden func(ctx context.Context, tenant, principal string, msgType wire.Type, targetSID string)
	// SessionCheckInterval defaults to 15 s.
	SessionCheckInterval time.Duration
	// AgentAuth, when set, authenticates an agent's upgrade before the bearer token is
	// looked at (the relay's device certificates: mTLS or a proof of key). It returns
	// handled false when the request carries none of its credentials, and the agent token
	// (JWT) decides as without it; handled true with an error refuses the upgrade (401).
	AgentAuth func(c *fiber.Ctx) (claims auth.Claims, handled bool, err error)
	// OnHeartbeat, when set, receives each agent heartbeat with the agent's claims, on the
	// connection's reading goroutine (keep it short). The report is untrusted text.
	OnHeartbeat func(ctx context.Context, claims auth.Claims, hb wire.Heartbeat)
	// OnMachines, when set, receives a gateway's reports of the machines it reaches (checked
	// for bounds), with the connection they came on: a report with Reset starts that
	// connection's list anew. Same goroutine rule as OnHeartbeat.
	OnMachines func(ctx context.Context, claims auth.Claims, conn string, m wire.Machines)
	// OnAgentGone, when set, is told when an agent connection ends (conn as OnMachines).
	OnAgentGone func(claims auth.Claims, conn string)
	Logger      *slog.Logger
	Metrics     *Metrics

	// OnSessionEnd, when set, is told on every node of each console session that ended for
	// good (EndSessionEverywhere), and of each console DisconnectDevice cut; the relay ends
	// the session's TURN allocations with it.
	OnSessionEnd func(sid string)
	// Lifecycle, when set, is told how control-plane consoles' connections end (lifecycle.go).
	Lifecycle SessionLifecycle
	// ConsoleBudget bounds what one console session may send (budget.go); zero: defaults.
	ConsoleBudget ConsoleBudget
	// Consent, when set, records the steps of a machine's user consent (consent.go).
	Consent ConsentRecorder
	// Names, when set, names control-plane consoles' participants for the others of their
	// machine (an email, an API key's name, a guest's "<name> (guest)"); without it, or for a
	// token without a tenant, the token's subject is the name.
	Names PrincipalNamer
	// Control, when set, audits shared sessions: consoles joining and leaving a machine,
	// control moving among them, and the input of each controller (shared.go).
	Control ControlAuditor
	// KeyCapture and Keys, both set, capture the keys of the sessions whose organization
	// records them (keys.go): the agent is asked for them, and they go to Keys.
	KeyCapture KeyCapture
	Keys       KeyRecorder
	// Viewers, when set, relays the video of a device's consoles beyond the first P2PViewers
	// on this node (viewers.go); nil: every console gets its video from the agent.
	Viewers VideoRelay
	// P2PViewers is how many consoles of a device on this node get their video peer to peer
	// from the agent when Viewers is set; 0: all through the relay.
	P2PViewers int
}

// SessionGate is the control plane's say over console connections. Both calls return the
// grant the console's principal holds now (view, control, admin), derived from its rights.
type SessionGate interface {
	// Admit decides whether a console may connect now, and with which grant; it marks the
	// session in use.
	Admit(ctx context.Context, c auth.Claims) (wire.Grant, error)
	// Check decides whether a connected console may stay; it records the activity. An error
	// matching ErrSessionOver ends the connection; others (a store outage) are logged and the
	// next check decides. A grant other than the console's is delivered to its agent.
	Check(ctx context.Context, c auth.Claims) (wire.Grant, error)
}

// PrincipalNamer names the person of a control-plane console session for the other
// participants of its machine. The session, not only its principal, decides: the guests of
// one share link are one principal under several names.
type PrincipalNamer interface {
	ParticipantName(ctx context.Context, tenant, sid, principal string) (string, error)
}

// ErrSessionOver is what a SessionGate's Check wraps when the session has definitely ended.
var ErrSessionOver = errors.New("signaling: console session over")

// Server serves the signaling WebSockets.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	node    string // tells this server's bus notices from other nodes'

	origins origins // browser origins allowed to open a WebSocket

	budgets *budgets // per console session, this node

	mu       sync.Mutex
	consoles map[string]*liveConn // sid → the live console connection
	agents   map[string]*liveConn // device → the live agent connection
}

// NewServer makes a Server; Close ends its connections.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Bus == nil || cfg.Registry == nil || cfg.Issuer == nil {
		return nil, errors.New("signaling: server needs a bus, a registry and an issuer")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.ConsoleTokenTTL <= 0 {
		cfg.ConsoleTokenTTL = 15 * time.Minute
	}
	if cfg.SessionCheckInterval <= 0 {
		cfg.SessionCheckInterval = 15 * time.Second
	}
	allowed, err := newOrigins(cfg.PublicURL, cfg.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, log: cfg.Logger, metrics: cfg.Metrics, ctx: ctx, cancel: cancel, origins: allowed, node: auth.NewID("n_"),
		consoles: make(map[string]*liveConn),
		agents:   make(map[string]*liveConn),
		budgets:  newBudgets(cfg.ConsoleBudget, nil),
	}
	s.wg.Go(s.watchDisconnects)
	s.wg.Go(func() { s.watchControl(sessionEndTopic, "session ends", s.applySessionEnd) })
	s.wg.Go(func() { s.watchControl(regrantTopic, "grant changes", s.applyRegrant) })
	if cfg.Viewers != nil {
		// Subscribed before NewServer returns: a node link asked of this node as soon as it
		// holds a stream finds it listening.
		sub, err := cfg.Bus.Subscribe(ctx, nodeTopic(s.node))
		if err != nil {
			cancel()
			s.wg.Wait()
			return nil, fmt.Errorf("signaling: subscribe node links: %w", err)
		}
		s.wg.Go(func() { s.serveStreamLinks(sub) })
	}
	return s, nil
}

// Close ends every signaling connection and waits for their goroutines.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

const (
	localsClaims = "kvmrelay.claims"
	localsGrant  = "kvmrelay.grant" // what Admit derived for a control-plane console
	bearerProto  = "bearer."
)

// Mount registers the console and agent WebSocket endpoints.
func (s *Server) Mount(r fiber.Router) {
	wsCfg := websocket.Config{
		Subprotocols:     []string{wire.Subprotocol},
		Origins:          []string{"*"}, // checked by checkUpgrade before the upgrader runs
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
		RecoverHandler:   s.recoverConn,
	}
	r.Get("/ws/console", s.checkUpgrade("console", auth.AudienceConsole), websocket.New(s.serveConsole, wsCfg))
	r.Get("/ws/agent", s.checkUpgrade("agent", auth.AudienceAgent), websocket.New(s.serveAgent, wsCfg))
}

// recoverConn logs a panic in a connection handler. Unlike the library default it never writes
// the panic text to the peer.
func (s *Server) recoverConn(c *websocket.Conn) {
	if v := recover(); v != nil {
		s.log.Error("signaling connection panicked", "panic", v)
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "internal error"), time.Now().Add(time.Second))
	}
}

// checkUpgrade refuses, before any upgrade, a request from a foreign Origin (403) or without a
// valid token for the endpoint's audience (401).
func (s *Server) checkUpgrade(peer string, aud auth.Audience) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !websocket.IsWebSocketUpgrade(c) {
			s.metrics.Refused.WithLabelValues(peer, "not-websocket").Inc()
			return fiber.NewError(fiber.StatusUpgradeRequired, "this endpoint speaks WebSocket only")
		}
		if origin := c.Get(fiber.HeaderOrigin); origin != "" && !s.origins.allows(origin) {
			s.metrics.Refused.WithLabelValues(peer, "origin").Inc()
			s.log.Warn("websocket refused: foreign origin (if browsers reach the relay there, set --public-url to that URL or add it to --allowed-origins)",
				"peer", peer, "origin", origin, "remote", c.IP())
			return fiber.NewError(fiber.StatusForbidden, "origin not allowed")
		}
		claims, err := s.authenticate(c, aud)
		if err != nil {
			s.metrics.Refused.WithLabelValues(peer, "token").Inc()
			s.log.Warn("websocket refused: bad token", "peer", peer, "remote", c.IP(), "err", err)
			return fiber.NewError(fiber.StatusUnauthorized, "missing, invalid or expired token")
		}
		if claims.Device == "" || (aud == auth.AudienceConsole && claims.Session == "") {
			s.metrics.Refused.WithLabelValues(peer, "token").Inc()
			return fiber.NewError(fiber.StatusUnauthorized, "token does not name a device or session")
		}
		if aud == auth.AudienceConsole && claims.Tenant != "" && s.cfg.Sessions != nil {
			grant, err := s.cfg.Sessions.Admit(c.UserContext(), claims)
			if err != nil {
				s.metrics.Refused.WithLabelValues(peer, "session").Inc()
				s.log.Warn("websocket refused: session", "peer", peer, "sid", claims.Session, "remote", c.IP(), "err", err)
				return fiber.NewError(fiber.StatusForbidden, "this console session has ended or does not match the token; start a new session")
			}
			c.Locals(localsGrant, grant)
		}
		c.Locals(localsClaims, claims)
		return c.Next()
	}
}

// authenticate asks AgentAuth first (agents), then checks the bearer token.
func (s *Server) authenticate(c *fiber.Ctx, aud auth.Audience) (auth.Claims, error) {
	if aud == auth.AudienceAgent && s.cfg.AgentAuth != nil {
		if claims, handled, err := s.cfg.AgentAuth(c); handled {
			return claims, err
		}
	}
	return s.cfg.Issuer.Verify(bearerToken(c), aud)
}

// bearerToken takes the token from Authorization, or from the WebSocket subprotocol list where
// browsers, which cannot set headers on a WebSocket, put it.
func bearerToken(c *fiber.Ctx) string {
	if h := c.Get(fiber.HeaderAuthorization); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	for _, p := range strings.Split(c.Get("Sec-WebSocket-Protocol"), ",") {
		if p = strings.TrimSpace(p); strings.HasPrefix(p, bearerProto) {
			return strings.TrimPrefix(p, bearerProto)
		}
	}
	return ""
}

// claimsOf returns the claims checkUpgrade stored.
func claimsOf(c *websocket.Conn) (auth.Claims, bool) {
	claims, ok := c.Locals(localsClaims).(auth.Claims)
	return claims, ok
}

// grantOf returns the grant a console connects with: what Admit derived for a control-plane
// session, else what its token says (tokens without one mean control).
func grantOf(c *websocket.Conn, claims auth.Claims) wire.Grant {
	if g, ok := c.Locals(localsGrant).(wire.Grant); ok && g.Valid() {
		return g
	}
	return tokenGrant(claims)
}

// tokenGrant is the grant a console token carries; none (a token of `kvmrelay token console`
// from before grants, or without a control plane) means control.
func tokenGrant(c auth.Claims) wire.Grant {
	if c.Grant.Valid() {
		return c.Grant
	}
	return wire.GrantControl
}

// liveConn is one registered connection; its pointer identifies it.
type liveConn struct {
	cancel context.CancelFunc
	pc     *peerconn.Conn
	device string      // the device it serves or is a console of
	agent  string      // the device whose agent carries the console: device, or its gateway
	sid    string      // consoles only
	info   SessionInfo // consoles only: the session as registered (Grant as connected)
	// superseded is set, under Server.mu, when a newer connection takes over its key: from
	// then on the key's state is the newer one's, even once that one has ended too.
	superseded bool
	// Consoles only, under Server.mu: what the console may do now (grant.go), and why the
	// relay ended its session, when it did (for the audit of its leaving).
	grant wire.Grant
	ended string
	// reg serializes a console's registry writes after it connected (a grant recorded) with
	// its removal, so that no record outlives the connection; gone is set under it.
	reg  sync.Mutex
	gone bool
	// agentVideo, consoles only, under Server.mu: its last join asked the agent for video
	// (not relayed), so it counts towards the device's P2P viewers.
	agentVideo bool
}

// EndSession tells the console of session sid on this node that its session ended, and
// closes the connection (the agent then gets a bye). It reports whether one was connected.
func (s *Server) EndSession(sid, reason string) bool {
	s.mu.Lock()
	lc := s.consoles[sid]
	if lc != nil {
		lc.ended = reason
	}
	s.mu.Unlock()
	if lc == nil {
		return false
	}
	lc.pc.SendError(sid, wire.CodeSessionEnded, sessionEndedMessage(reason, lc.info.Principal))
	lc.cancel()
	return true
}

// sessionEndedMessage tells a console its session ended and why, and what to do next: a guest
// has no session of its own to start, so it is sent back to whoever shared the console.
func sessionEndedMessage(reason, principal string) string {
	next := "Start a new session to connect again."
	if strings.HasPrefix(principal, "guest:") {
		next = "Ask whoever shared this console with you for a new link."
	}
	if reason == "" {
		return "This console session has ended. " + next
	}
	return "This console session has ended (" + reason + "). " + next
}

// takeOver registers conn as the live connection under key and ends the previous one: a
// reconnecting peer replaces its own half-dead connection.
func (s *Server) takeOver(m map[string]*liveConn, key string, conn *liveConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := m[key]; ok {
		old.superseded = true
		old.cancel()
	}
	m[key] = conn
}

// release forgets the connection under key if it is still the registered one.
func (s *Server) release(m map[string]*liveConn, key string, conn *liveConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m[key] == conn {
		delete(m, key)
	}
}

// serverConn is one accepted signaling WebSocket: its context (ended by Close of the server, by
// a newer connection taking over its key, or by the handler returning), its writer, and the
// goroutines serving it.
type serverConn struct {
	ctx  context.Context
	pc   *peerconn.Conn
	live *liveConn
	wg   sync.WaitGroup
}

// accept registers live, a connection of the given peer kind, under key (replacing an older
// one) and starts its writer. The returned func ends it: cancel, wait for its goroutines,
// unregister.
func (s *Server) accept(c *websocket.Conn, peer string, m map[string]*liveConn, key string, live *liveConn, log *slog.Logger) (*serverConn, func()) {
	ctx, cancel := context.WithCancel(s.ctx)
	pc := peerconn.New(c.Conn, log)
	live.cancel, live.pc = cancel, pc
	sc := &serverConn{ctx: ctx, pc: pc, live: live}
	s.takeOver(m, key, sc.live)
	sc.wg.Go(func() { sc.pc.WriteLoop(ctx) })
	s.metrics.Connections.WithLabelValues(peer).Inc()
	return sc, func() {
		cancel()
		sc.wg.Wait()
		s.metrics.Connections.WithLabelValues(peer).Dec()
		s.release(m, key, sc.live)
	}
}
