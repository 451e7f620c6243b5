package relay

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/turn"
)

// Config configures a Relay.
type Config struct {
	// Listen is the HTTP address, e.g. "127.0.0.1:8080".
	Listen string
	// DataDir holds the signing key, the generated TURN secret and the embedded SQLite store.
	DataDir string
	// RecordingsDir holds console recordings (default <DataDir>/recordings; several nodes need
	// one shared POSIX mount at the same path, see deploy/README.md).
	RecordingsDir string
	// DatabaseURL selects PostgreSQL (as the application role) instead of the embedded store.
	DatabaseURL string
	// RedisURL (redis:// or rediss://) puts the signaling bus and session registry in Redis, so
	// that several relay nodes sharing it and DatabaseURL serve one deployment; empty keeps them
	// in process. Redis must answer at start; later outages are survived (peers reconnect).
	RedisURL string
	// PublicURL is how browsers reach the relay (console links, token issuer); defaults to
	// http://<Listen>.
	PublicURL string
	// AllowedOrigins for console WebSockets; empty means the relay's own origin.
	AllowedOrigins []string
	// TURN configures the embedded TURN server; nil disables it.
	TURN *turn.Config
	// TURNAdvertise limits the embedded TURN transports handed to peers (nil: all). An operator
	// whose users sit behind TLS-only firewalls can hand out only turns: on 443.
	TURNAdvertise []TURNTransport
	// ExternalTURN hands out an external coturn's URLs instead; exclusive with TURN.
	ExternalTURN *ExternalTURN
	// CredentialTTL is the lifetime of per-session TURN credentials.
	CredentialTTL time.Duration
	// ConsoleTokenTTL is the lifetime of console tokens (refreshed while connected).
	ConsoleTokenTTL time.Duration
	// OIDC, when set, also accepts API access tokens from an external issuer (Keycloak…).
	OIDC *accounts.OIDCConfig
	// Mailer sends invitations and password reset links; nil returns the links to the admin.
	Mailer accounts.Mailer
	// SecretKeyFile holds the control plane's secret key (64 hex digits), which encrypts TOTP
	// secrets at rest; every node of a deployment needs the same. Empty: SecretKeyFile in
	// DataDir, generated on first start.
	SecretKeyFile string
	// TLSCertFile and TLSKeyFile (PEM) make the relay serve HTTPS itself, and accept agents'
	// device certificates in the handshake (mTLS). Both or neither.
	TLSCertFile, TLSKeyFile string
	// EnrollPerMinute caps enrollment attempts per client address and minute; default 10.
	EnrollPerMinute int
	// RedeemPerMinute caps console links redeemed per client address and minute; default 30.
	RedeemPerMinute int
	// GuestJoinPerMinute caps guests joining through guest share links per client address and
	// minute; default 10.
	GuestJoinPerMinute int
	// Conns guards the HTTP and TURN TCP/TLS listeners against descriptor exhaustion: a budget
	// below the descriptor limit shared by all of them, a cap per client address, a deadline
	// for a connection's first byte (internal/netguard). The zero value uses the defaults.
	Conns ConnLimits
	// TrustedProxies are the reverse proxies in front of the relay: only from them is
	// X-Forwarded-For believed (see internal/clientaddr). Empty: the connection's peer is the
	// client.
	TrustedProxies []netip.Prefix
	// ConsoleReconnectGrace is how long a console session outlives its console's connection
	// lost without a goodbye (a closed tab, a network change) before it is stopped; default
	// 45 s, at least 3 s.
	ConsoleReconnectGrace time.Duration
	// P2PViewers is how many consoles of a device (on this node) get their video peer to
	// peer from the agent; the video of those beyond comes through the relay, which receives
	// the device's stream once (fan-out). Nil: 1; 0: every console's video through the relay.
	P2PViewers *int
	Logger     *slog.Logger
}

// DefaultP2PViewers is --p2p-viewers' default: one console at the lowest latency, the others
// through the relay, so an agent uploads at most two streams.
const DefaultP2PViewers = 1

// p2pViewers is P2PViewers with its default.
func (c *Config) p2pViewers() int {
	if c.P2PViewers == nil {
		return DefaultP2PViewers
	}
	return max(0, *c.P2PViewers)
}

func (c *Config) setDefaults() error {
	if c.Listen == "" {
		return errors.New("relay: listen address required")
	}
	if c.DataDir == "" {
		return errors.New("relay: data directory required")
	}
	if c.TURN != nil && c.ExternalTURN != nil {
		return errors.New("relay: choose the embedded TURN server or external TURN URLs, not both")
	}
	if c.ExternalTURN != nil {
		if err := c.ExternalTURN.validate(); err != nil {
			return err
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("relay: --tls-cert and --tls-key go together")
	}
	if c.PublicURL == "" {
		c.PublicURL = c.scheme() + "://" + c.Listen
	}
	if c.CredentialTTL <= 0 {
		c.CredentialTTL = 10 * time.Minute
	}
	if c.ConsoleTokenTTL <= 0 {
		c.ConsoleTokenTTL = 15 * time.Minute
	}
	if c.EnrollPerMinute <= 0 {
		c.EnrollPerMinute = 10
	}
	if c.RedeemPerMinute <= 0 {
		c.RedeemPerMinute = 30
	}
	if c.GuestJoinPerMinute <= 0 {
		c.GuestJoinPerMinute = 10
	}
	if c.ConsoleReconnectGrace == 0 {
		c.ConsoleReconnectGrace = sessions.DefaultReconnectGrace
	}
	if c.ConsoleReconnectGrace < 3*time.Second {
		return errors.New("relay: --console-reconnect-grace must be at least 3s: a console needs that long to reconnect")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// ConnLimits are the operator's settings for the connection guard.
type ConnLimits struct {
	// MaxPerAddress caps concurrent connections from one client address (IPv6 by /64) over
	// HTTP and TURN TCP/TLS together; 0: 256; negative: no cap.
	MaxPerAddress int
	// Reserve is how many descriptors stay outside the connection budget for the database,
	// Redis, TURN relay sockets and files; 0: max(64, limit/8).
	Reserve int
	// FirstByteTimeout closes connections that send nothing; 0: 10 s.
	FirstByteTimeout time.Duration
}
