package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/kvmrelay/kvmrelay/internal/cli"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/turn"
)

const envPrefix = "KVMRELAY_"

// serveFlags are the flags of `serve`, shared by `demo`.
type serveFlags struct {
	listen, dataDir, publicURL, origins, logLevel   string
	databaseURL                                     string
	turnListen, turnPublicIP, turnSecret, turnRealm string
	turnAllow, turnDeny, turnPorts, turnURLs        string
	turnTLSListen, turnTLSCert, turnTLSKey          string
	turnTLSName, turnAdvertise                      string
	turnUDPSockets                                  int
	turnQuotaUser, turnQuotaTotal                   int
	turnMaxBPS                                      int64
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "HTTP address for the console, API and signaling")
	fs.StringVar(&f.dataDir, "data-dir", "kvmrelay-data", "directory for the signing key, TURN secret and the embedded SQLite database")
	fs.StringVar(&f.databaseURL, "database-url", "", "PostgreSQL URL (as the application role) instead of the embedded database; migrate it first with kvmrelay migrate")
	fs.StringVar(&f.publicURL, "public-url", "", "URL browsers use to reach the relay (default http://LISTEN)")
	fs.StringVar(&f.origins, "allowed-origins", "", "extra browser origins allowed to open consoles, comma-separated (default: the relay's own)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.turnListen, "turn-listen", "127.0.0.1:3478", "embedded TURN address, UDP and TCP (empty disables TURN)")
	fs.StringVar(&f.turnPublicIP, "turn-public-ip", "", "address consoles and agents reach TURN at (required when --turn-listen binds all interfaces)")
	fs.StringVar(&f.turnSecret, "turn-secret", "", "TURN REST secret(s), comma-separated, first one signs (default: generated in --data-dir)")
	fs.StringVar(&f.turnRealm, "turn-realm", "kvmrelay", "TURN realm")
	fs.StringVar(&f.turnURLs, "turn-urls", "", "use external TURN servers (coturn with use-auth-secret) instead of the embedded one: comma-separated turn:/turns:/stun: URLs; needs --turn-secret; replaces the embedded server")
	fs.StringVar(&f.turnAllow, "turn-allow-peers", "", "CIDRs TURN may relay to despite the default deny of private/special ranges")
	fs.StringVar(&f.turnDeny, "turn-deny-peers", "", "extra CIDRs TURN must never relay to (e.g. your database and Redis hosts)")
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
	cfg := relay.Config{Listen: f.listen, DataDir: f.dataDir, DatabaseURL: f.databaseURL, PublicURL: f.publicURL, Logger: log}
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
	tc, err := f.turnConfig(extraAllow)
	if err != nil {
		return relay.Config{}, err
	}
	cfg.TURN = &tc
	if cfg.TURNAdvertise, err = relay.ParseTURNTransports(f.turnAdvertise); err != nil {
		return relay.Config{}, fmt.Errorf("--turn-advertise: %w", err)
	}
	return cfg, nil
}

func (f *serveFlags) turnConfig(extraAllow []netip.Prefix) (turn.Config, error) {
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
	return turn.Config{
		ListenAddr:       f.turnListen,
		PublicIP:         public,
		Realm:            f.turnRealm,
		Secrets:          secrets,
		AllowPeers:       append(allow, extraAllow...),
		DenyPeers:        deny,
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
