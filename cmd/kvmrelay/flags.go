package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/kvmrelay/kvmrelay/internal/cli"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/turn"
)

const envPrefix = "KVMRELAY_"

// serveFlags are the flags of `serve`, shared by `demo`.
type serveFlags struct {
	listen, dataDir, publicURL, origins, logLevel   string
	databaseURL, redisURL                           string
	tlsCert, tlsKey                                 string
	secretKeyFile                                   string
	recordingsDir                                   string
	turnListen, turnPublicIP, turnSecret, turnRealm string
	turnAllow, turnDeny, turnPorts, turnURLs        string
	turnTLSListen, turnTLSCert, turnTLSKey          string
	turnTLSName, turnAdvertise                      string
	turnUDPSockets                                  int
	turnQuotaUser, turnQuotaTotal                   int
	turnMaxBPS                                      int64
	maxConnsPerAddress, fdReserve                   int
	firstByteTimeout                                time.Duration
	consoleReconnectGrace                           time.Duration
	p2pViewers                                      int
	oidc                                            oidcFlags
	trustedProxies                                  string

	// resolver finds the addresses of the database and Redis hosts that TURN must refuse as
	// peers; nil is the system's (tests inject one).
	resolver turn.Resolver
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "HTTP address for the console, API and signaling")
	fs.StringVar(&f.dataDir, "data-dir", "kvmrelay-data", "directory for the signing key, TURN secret and the embedded SQLite database")
	fs.StringVar(&f.recordingsDir, "recordings-dir", "", "directory for console recordings, when an organization's policy records (default: DATA-DIR/recordings; several nodes need one shared POSIX mount at the same path)")
	fs.StringVar(&f.databaseURL, "database-url", "", "PostgreSQL URL (as the application role) instead of the embedded database; migrate it first with kvmrelay migrate")
	fs.StringVar(&f.redisURL, "redis-url", "", "Redis URL (redis://[:PASSWORD@]HOST:PORT/DB, rediss:// for TLS) for the signaling bus and session registry that several relay nodes share (default: in process, one node)")
	fs.StringVar(&f.publicURL, "public-url", "", "URL browsers use to reach the relay (default http://LISTEN, https://LISTEN with --tls-cert)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS on --listen; agents may then authenticate with their device certificate (mTLS). Leave empty behind a TLS-terminating proxy: agents use proof of key")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&f.secretKeyFile, "secret-key-file", "", "file with the control plane's secret key (64 hex digits: openssl rand -hex 32) that encrypts TOTP secrets; every node of a deployment needs the same (default: generated in --data-dir)")
	fs.StringVar(&f.origins, "allowed-origins", "", "extra browser origins allowed to open consoles, comma-separated (default: the relay's own)")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "CIDRs of the reverse proxies in front of the relay, comma-separated: the client address (rate limits, audit) comes from X-Forwarded-For only on connections from them, walked from the right past these hops (default: none, the connection's address)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&f.maxConnsPerAddress, "max-conns-per-address", 0, "concurrent TCP connections one client address (IPv6: its /64) may hold over HTTP and TURN TCP/TLS together (default 256; -1: no cap)")
	fs.IntVar(&f.fdReserve, "fd-reserve", 0, "file descriptors kept outside the connection budget for the database, Redis, TURN relay sockets and files (default max(64, limit/8))")
	fs.DurationVar(&f.firstByteTimeout, "first-byte-timeout", 0, "close TCP connections that send nothing for this long after connecting (default 10s)")
	fs.StringVar(&f.turnListen, "turn-listen", "127.0.0.1:3478", "embedded TURN address, UDP and TCP (empty disables TURN)")
	fs.StringVar(&f.turnPublicIP, "turn-public-ip", "", "address consoles and agents reach TURN at (required when --turn-listen binds all interfaces)")
	fs.StringVar(&f.turnSecret, "turn-secret", "", "TURN REST secret(s), comma-separated, first one signs (default: generated in --data-dir)")
	fs.StringVar(&f.turnRealm, "turn-realm", "kvmrelay", "TURN realm")
	fs.StringVar(&f.turnURLs, "turn-urls", "", "use external TURN servers (coturn with use-auth-secret) instead of the embedded one: comma-separated turn:/turns:/stun: URLs; needs --turn-secret; replaces the embedded server")
	fs.StringVar(&f.turnAllow, "turn-allow-peers", "", "CIDRs TURN may relay to despite the default deny of private/special ranges")
	fs.StringVar(&f.turnDeny, "turn-deny-peers", "", "extra CIDRs TURN must never relay to (the --database-url and --redis-url hosts are refused without being listed here)")
	fs.StringVar(&f.turnPorts, "turn-relay-ports", "", "relay port range LOW-HIGH (default: any)")
	fs.IntVar(&f.turnQuotaUser, "turn-quota-user", 0, "max TURN allocations per session (default 10)")
	fs.IntVar(&f.turnQuotaTotal, "turn-quota-total", 0, "max TURN allocations in total (default 1000)")
	fs.Int64Var(&f.turnMaxBPS, "turn-max-bps", 0, "bandwidth cap per TURN allocation in bits/s (0: none)")
	fs.StringVar(&f.turnTLSListen, "turn-tls-listen", "", "TURN over TLS (turns:) address, e.g. 0.0.0.0:443, for networks that pass only TLS")
	fs.StringVar(&f.turnTLSCert, "turn-tls-cert", "", "PEM certificate for --turn-tls-listen")
	fs.StringVar(&f.turnTLSKey, "turn-tls-key", "", "PEM private key for --turn-tls-listen")
	fs.StringVar(&f.turnTLSName, "turn-tls-name", "", "host name in turns: URLs, matching the certificate (default: --turn-public-ip)")
	fs.IntVar(&f.turnUDPSockets, "turn-udp-sockets", 0, "UDP sockets on the TURN port (SO_REUSEPORT; default one per CPU)")
	fs.StringVar(&f.turnAdvertise, "turn-advertise", "", "TURN transports handed to peers: any of udp,tcp,tls (default all that listen)")
	fs.DurationVar(&f.consoleReconnectGrace, "console-reconnect-grace", 45*time.Second, "how long a console session stays open after its console's connection was lost without Disconnect (a closed tab, a network change), waiting for it to reconnect")
	fs.IntVar(&f.p2pViewers, "p2p-viewers", relay.DefaultP2PViewers, "consoles of a device that get video peer to peer from its agent (lowest latency); the relay receives the device's stream once and forwards it to the others (0: every console's video through the relay)")
	f.oidc.register(fs)
}

func (f *serveFlags) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// relayConfig turns the flags into a relay.Config. extraAllow adds peer ranges (the demo's own
// addresses).
func (f *serveFlags) relayConfig(log *slog.Logger, extraAllow []netip.Prefix) (relay.Config, error) {
	cfg := relay.Config{Listen: f.listen, DataDir: f.dataDir, RecordingsDir: f.recordingsDir, DatabaseURL: f.databaseURL, RedisURL: f.redisURL, PublicURL: f.publicURL, Logger: log,
		TLSCertFile: f.tlsCert, TLSKeyFile: f.tlsKey, SecretKeyFile: f.secretKeyFile, ConsoleReconnectGrace: f.consoleReconnectGrace,
		Conns:      relay.ConnLimits{MaxPerAddress: f.maxConnsPerAddress, Reserve: f.fdReserve, FirstByteTimeout: f.firstByteTimeout},
		P2PViewers: &f.p2pViewers}
	if f.p2pViewers < 0 {
		return relay.Config{}, errors.New("--p2p-viewers must be 0 or more")
	}
	oidc, err := f.oidc.config()
	if err != nil {
		return relay.Config{}, err
	}
	cfg.OIDC = oidc
	if cfg.TrustedProxies, err = cli.Prefixes(f.trustedProxies); err != nil {
		return relay.Config{}, fmt.Errorf("--trusted-proxies: %w", err)
	}
	for _, o := range strings.Split(f.origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
		}
	}
	if f.turnURLs != "" {
		secret, _, _ := strings.Cut(f.turnSecret, ",")
		if secret == "" {
			return relay.Config{}, fmt.Errorf("--turn-urls needs --turn-secret set to coturn's static-auth-secret")
		}
		var urls []string
		for _, u := range strings.Split(f.turnURLs, ",") {
			if u = strings.TrimSpace(u); u != "" {
				urls = append(urls, u)
			}
		}
		cfg.ExternalTURN = &relay.ExternalTURN{URLs: urls, Secret: []byte(secret)}
		return cfg, nil
	}
	if f.turnListen == "" {
		return cfg, nil
	}
	tc, err := f.turnConfig(log, extraAllow)
	if err != nil {
		return relay.Config{}, err
	}
	cfg.TURN = &tc
	if cfg.TURNAdvertise, err = relay.ParseTURNTransports(f.turnAdvertise); err != nil {
		return relay.Config{}, fmt.Errorf("--turn-advertise: %w", err)
	}
	return cfg, nil
}

// turnConfig builds the embedded TURN server's config. extraAllow are peer ranges the command
// itself opens (the demo's own addresses): unlike --turn-allow-peers they never open a
// database or Redis host (see servicePeers).
func (f *serveFlags) turnConfig(log *slog.Logger, extraAllow []netip.Prefix) (turn.Config, error) {
	host, _, err := net.SplitHostPort(f.turnListen)
	if err != nil {
		return turn.Config{}, fmt.Errorf("--turn-listen %q: want HOST:PORT: %w", f.turnListen, err)
	}
	var public netip.Addr
	switch {
	case f.turnPublicIP != "":
		public, err = netip.ParseAddr(f.turnPublicIP)
		if err != nil {
			return turn.Config{}, fmt.Errorf("--turn-public-ip %q: %w", f.turnPublicIP, err)
		}
	default:
		public, err = netip.ParseAddr(host)
		if err != nil || public.IsUnspecified() {
			return turn.Config{}, fmt.Errorf("--turn-public-ip is required when --turn-listen (%q) does not name one address: set the IP consoles and agents reach this relay at", f.turnListen)
		}
	}
	var secrets [][]byte
	for _, s := range strings.Split(f.turnSecret, ",") {
		if s = strings.TrimSpace(s); s != "" {
			secrets = append(secrets, []byte(s))
		}
	}
	if len(secrets) == 0 {
		s, err := relay.LoadOrCreateTURNSecret(f.dataDir)
		if err != nil {
			return turn.Config{}, err
		}
		secrets = [][]byte{s}
	}
	allow, err := cli.Prefixes(f.turnAllow)
	if err != nil {
		return turn.Config{}, fmt.Errorf("--turn-allow-peers: %w", err)
	}
	deny, err := cli.Prefixes(f.turnDeny)
	if err != nil {
		return turn.Config{}, fmt.Errorf("--turn-deny-peers: %w", err)
	}
	lo, hi, err := cli.PortRange(f.turnPorts)
	if err != nil {
		return turn.Config{}, fmt.Errorf("--turn-relay-ports: %w", err)
	}
	resolver := f.resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	services, err := servicePeers(ctx, resolver, f.databaseURL, f.redisURL)
	if err != nil {
		return turn.Config{}, err
	}
	for _, p := range extraAllow {
		if isService(services, p) {
			log.Warn("TURN will not relay to this local address: the relay's database or Redis is there", "addr", p.Addr().String())
			continue
		}
		allow = append(allow, p)
	}
	return turn.Config{
		ListenAddr:       f.turnListen,
		PublicIP:         public,
		Realm:            f.turnRealm,
		Secrets:          secrets,
		AllowPeers:       allow,
		DenyPeers:        deny,
		ServicePeers:     services,
		RelayPortMin:     lo,
		RelayPortMax:     hi,
		TLSListenAddr:    f.turnTLSListen,
		TLSCert:          f.turnTLSCert,
		TLSKey:           f.turnTLSKey,
		TLSServerName:    f.turnTLSName,
		UDPSockets:       f.turnUDPSockets,
		QuotaPerUser:     f.turnQuotaUser,
		QuotaTotal:       f.turnQuotaTotal,
		MaxBitsPerSecond: f.turnMaxBPS,
	}, nil
}

// resolveTimeout bounds the DNS look-ups of the database and Redis hosts at start.
const resolveTimeout = 10 * time.Second

// servicePeers are the addresses of the relay's own database (--database-url, every host of
// PostgreSQL's multi-host form) and Redis (--redis-url): the embedded TURN server refuses them
// as peers even inside --turn-allow-peers ranges, unless --turn-allow-peers names one exactly
// (turn/README.md, "Peer policy"). Literal addresses are taken as they are, names resolved now,
// unix sockets skipped.
func servicePeers(ctx context.Context, r turn.Resolver, databaseURL, redisURL string) ([]turn.ServicePeer, error) {
	var out []turn.ServicePeer
	if databaseURL != "" {
		cfg, err := pgconn.ParseConfig(databaseURL) // its errors leave the password out
		if err != nil {
			return nil, fmt.Errorf("--database-url: %w", err)
		}
		hosts := []string{cfg.Host}
		for _, fb := range cfg.Fallbacks {
			hosts = append(hosts, fb.Host)
		}
		peers, err := turn.ResolveServicePeers(ctx, r, "database", hosts...)
		if err != nil {
			return nil, fmt.Errorf("--database-url: %w", err)
		}
		out = append(out, peers...)
	}
	if redisURL != "" {
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			var uerr *url.Error
			if errors.As(err, &uerr) { // it quotes the URL, password included
				err = uerr.Err
			}
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		if opts.Network != "unix" {
			host, _, err := net.SplitHostPort(opts.Addr)
			if err != nil {
				return nil, fmt.Errorf("--redis-url: address %q: %w", opts.Addr, err)
			}
			peers, err := turn.ResolveServicePeers(ctx, r, "redis", host)
			if err != nil {
				return nil, fmt.Errorf("--redis-url: %w", err)
			}
			out = append(out, peers...)
		}
	}
	return out, nil
}

// isService reports whether p is exactly one of the service hosts.
func isService(services []turn.ServicePeer, p netip.Prefix) bool {
	for _, s := range services {
		if p == netip.PrefixFrom(s.Addr, s.Addr.BitLen()) {
			return true
		}
	}
	return false
}

// parse parses args, then fills unset flags from KVMRELAY_* variables.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cli.ApplyEnv(fs, envPrefix); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; run with -h for usage", fs.Args())
	}
	return nil
}
