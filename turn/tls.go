package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// TURN over TLS (RFC 8656 §3.1, "turns:" URLs): the way through corporate firewalls and
// proxies that pass only TLS, typically on 443. The TLS listener is a TCP listener whose
// connections are decrypted before the guard sees them, so the guard, pion's
// PermissionHandler and the relay sockets apply exactly as over TCP.

// tlsEnabled reports whether c asks for a TLS listener.
func (c *Config) tlsEnabled() bool { return c.TLSListenAddr != "" }

// checkTLS validates the TLS fields: a TLS listener needs a certificate, either as files or
// as a *tls.Config, not both; a certificate without a listener is a mistake worth reporting.
func (c *Config) checkTLS() error {
	files := c.TLSCert != "" || c.TLSKey != ""
	switch {
	case !c.tlsEnabled():
		if files || c.TLSConfig != nil || c.TLSServerName != "" {
			return fmt.Errorf("%w: TLS certificate or server name given without TLSListenAddr", ErrConfig)
		}
		return nil
	case files && c.TLSConfig != nil:
		return fmt.Errorf("%w: give TLSCert/TLSKey or TLSConfig, not both", ErrConfig)
	case files && (c.TLSCert == "" || c.TLSKey == ""):
		return fmt.Errorf("%w: TLSCert and TLSKey go together", ErrConfig)
	case !files && c.TLSConfig == nil:
		return fmt.Errorf("%w: TLSListenAddr needs TLSCert/TLSKey or TLSConfig", ErrConfig)
	case c.TLSConfig != nil && len(c.TLSConfig.Certificates) == 0 && c.TLSConfig.GetCertificate == nil &&
		c.TLSConfig.GetConfigForClient == nil:
		return fmt.Errorf("%w: TLSConfig has no certificate", ErrConfig)
	}
	if _, _, err := net.SplitHostPort(c.TLSListenAddr); err != nil {
		return fmt.Errorf("%w: TLSListenAddr %q: %w", ErrConfig, c.TLSListenAddr, err)
	}
	// A host name or an IP only: it goes into a URL as it is.
	if _, err := netip.ParseAddr(c.TLSServerName); err != nil && strings.ContainsAny(c.TLSServerName, "/?#@[]: \t") {
		return fmt.Errorf("%w: TLSServerName %q is not a host name", ErrConfig, c.TLSServerName)
	}
	return nil
}

// serverTLSConfig loads the certificate (files) or clones TLSConfig, and refuses anything
// older than TLS 1.2.
func (c *Config) serverTLSConfig() (*tls.Config, error) {
	var cfg *tls.Config
	if c.TLSConfig != nil {
		cfg = c.TLSConfig.Clone()
	} else {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("%w: load TLS certificate: %w", ErrConfig, err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg, nil
}

// listenTLS opens the TLS listener. An injected Net without TCP is an error here: TLS was
// asked for explicitly.
func listenTLS(ctx context.Context, so sockets, addr string, cfg *tls.Config, guard func(net.Listener) net.Listener) (net.Listener, error) {
	ln, err := so.listen(ctx, "tcp", addr, false)
	if errors.Is(err, errNoTCP) {
		return nil, fmt.Errorf("%w: TLSListenAddr needs TCP, which Config.Net lacks: %w", ErrConfig, err)
	}
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tls.NewListener(guard(ln), cfg), nil
}
